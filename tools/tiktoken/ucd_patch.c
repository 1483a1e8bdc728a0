/*
 * What llo_tok.c adds to PCRE2's Unicode classes so they are those of
 * tiktoken (Unicode 16.0): prints the C for the block between the
 * "ucd-patch" markers in llo_tok.c.
 *
 * usage: ucd_patch <ucd-16.txt from ucd.js>
 *
 * For each property it compares PCRE2's \p{..} with the Unicode 16.0 set
 * at every code point and prints the ranges PCRE2 lacks.  Ranges PCRE2
 * has and Unicode 16.0 does not (a character whose category changed)
 * cannot be added to a class; it prints them to stderr and fails.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


#define UCD_MAX     0x110000
#define UCD_NPROP   8


static const char  *props[UCD_NPROP] = {
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "N"
};


static int
utf8(unsigned cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        b[0] = (unsigned char) (0xc0 | cp >> 6);
        b[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        b[0] = (unsigned char) (0xe0 | cp >> 12);
        b[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    b[0] = (unsigned char) (0xf0 | cp >> 18);
    b[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
    b[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
    b[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}


int
main(int argc, char **argv)
{
    int                 p, n, ec, bad, col;
    char                line[256], name[64], pat[64], ver[64];
    FILE               *f;
    size_t              eo;
    unsigned            lo, hi, cp, start;
    unsigned char       b[4];
    unsigned char      *want[UCD_NPROP];
    pcre2_code         *re;
    pcre2_match_data   *md;

    if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
        fprintf(stderr, "usage: ucd_patch <ucd-16.txt>\n");
        return 1;
    }

    for (p = 0; p < UCD_NPROP; p++) {
        want[p] = calloc(UCD_MAX, 1);
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#') {
            continue;
        }

        if (sscanf(line, "%63s %x %x", name, &lo, &hi) != 3 || hi >= UCD_MAX) {
            fprintf(stderr, "%s: bad line \"%s\"\n", argv[1], line);
            return 1;
        }

        for (p = 0; p < UCD_NPROP; p++) {
            if (strcmp(name, props[p]) == 0) {
                memset(want[p] + lo, 1, hi - lo + 1);
            }
        }
    }

    fclose(f);

    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, ver);

    printf("/* ucd-patch: made by tools/tiktoken/ucd_patch.c (make tok-ucd)"
           " for\n * PCRE2 with Unicode %s; do not edit */\n\n", ver);
    printf("#define LLO_TOK_UCD_PCRE2       \"%s\"\n\n", ver);

    bad = 0;

    for (p = 0; p < UCD_NPROP; p++) {
        snprintf(pat, sizeof(pat), "\\p{%s}", props[p]);

        re = pcre2_compile((PCRE2_SPTR) pat, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        md = pcre2_match_data_create(1, NULL);

        printf("static const char  llo_tok_ucd_%s[] =", props[p]);
        col = 0;
        start = UCD_MAX;

        for (cp = 0; cp <= UCD_MAX; cp++) {
            int  has, need;

            if (cp < UCD_MAX && !(cp >= 0xd800 && cp <= 0xdfff)) {
                n = utf8(cp, b);
                has = pcre2_match(re, b, (size_t) n, 0, PCRE2_ANCHORED, md,
                                  NULL) > 0;
                need = want[p][cp];

            } else {
                has = need = 0;
            }

            if (has && !need) {
                fprintf(stderr, "U+%04X: in PCRE2's \\p{%s}, not in Unicode "
                        "16.0's\n", cp, props[p]);
                bad = 1;
            }

            if (need && !has) {
                if (start == UCD_MAX) {
                    start = cp;
                }
                continue;
            }

            if (start != UCD_MAX) {
                if (col % 3 == 0) {
                    printf("\n    \"");
                }

                if (start == cp - 1) {
                    printf("\\\\x{%x}", start);
                } else {
                    printf("\\\\x{%x}-\\\\x{%x}", start, cp - 1);
                }

                if (col % 3 == 2) {
                    printf("\"");
                }

                col++;
                start = UCD_MAX;
            }
        }

        printf("%s%s;\n\n", col % 3 ? "\"" : "", col ? "" : " \"\"");

        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }

    printf("/* ucd-patch end */\n");

    return bad;
}
