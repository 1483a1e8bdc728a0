#!/usr/bin/env node
/*
 * Parity vectors for llo_tok: what the npm tiktoken package (OpenAI's Rust
 * core compiled to WASM) makes of every corpus entry.
 *
 * usage: NODE_PATH=<npm dir>/node_modules \
 *            node vectors.js <enc> <corpus file | --sweep> <out file>
 *
 * Output, one line per entry:
 *
 *   <hex of the UTF-8 text> TAB <encode_ordinary ids> TAB <encode(text,
 *   "all") ids>
 *
 * ids space-separated (an empty text has empty id fields; in the sweep
 * the third field is '=' when it equals the second); lines starting with
 * '#' are comments (the package versions).
 *
 * The corpus file format is in corpus.js.
 *
 * --sweep makes the code point sweep instead: every code point of planes
 * 0-3 and 14 (no surrogates), 64 per entry, in contexts where the ids
 * change with how the split pattern classes it (letter, digit, space,
 * other): a character PCRE2 classes unlike tiktoken's Rust regex shows.
 * (test_tok.c also compares the classes themselves with Unicode 16.0.)
 *
 * js-tiktoken (a pure JS port using V8's regex engine) is run on the same
 * texts; where it disagrees with tiktoken the line is still tiktoken's, and
 * the disagreement is reported on stderr.  The output is written to a
 * temporary name and renamed.
 */

'use strict';

const fs = require('fs');
const path = require('path');

const { readCorpus } = require('./corpus.js');
const tiktoken = require('tiktoken');
const { Tiktoken: JsTiktoken } = require('js-tiktoken/lite');

function die(msg) {
    process.stderr.write('vectors.js: ' + msg + '\n');
    process.exit(1);
}

function sweep() {
    const entries = [];
    let cur = '';
    let k = 0;

    const planes = [[0, 0x3ffff], [0xe0000, 0xeffff]];

    for (const [lo, hi] of planes) {
        for (let cp = lo; cp <= hi; cp++) {
            if (cp >= 0xd800 && cp <= 0xdfff) {
                continue;
            }

            const c = String.fromCodePoint(cp);

            /* contexts whose ids change with the class of c: before "'s"
             * (a letter leaves the contraction alone, punctuation takes
             * the apostrophe), before digits (a digit joins their group of
             * three), after a space (taken by a letter or punctuation, not
             * by a digit), between letters of either case, alone */
            cur += c + '\'s ' + c + '123 a' + c + 'B' + c + 'c ' + c + '\'' + c
                   + '1' + c + '2\n' + c + '\n';

            if (++k === 64) {
                entries.push(cur);
                cur = '';
                k = 0;
            }
        }
    }

    if (cur !== '') {
        entries.push(cur);
    }

    return entries;
}

function main() {
    const [enc, src, out] = process.argv.slice(2);

    if (!enc || !src || !out) {
        die('usage: vectors.js <encoding> <corpus | --sweep> <out file>');
    }

    const entries = src === '--sweep' ? sweep() : readCorpus(src);

    const tk = tiktoken.get_encoding(enc);
    const ranks = require('js-tiktoken/ranks/' + enc);
    const js = new JsTiktoken(ranks);

    const version = (name) => {
        let dir = path.dirname(require.resolve(name));

        while (!fs.existsSync(path.join(dir, 'package.json'))) {
            dir = path.dirname(dir);
        }
        return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'),
                                          'utf8')).version;
    };

    const lines = [
        '# ' + enc + ' from ' + (src === '--sweep' ? 'the code point sweep'
                                  : src),
        '# tiktoken ' + version('tiktoken') + ', js-tiktoken '
            + version('js-tiktoken'),
        '# hex(text) TAB encode_ordinary TAB encode(text, "all")'
    ];

    let disagree = 0;

    for (const text of entries) {
        const ord = Array.from(tk.encode_ordinary(text));
        const all = Array.from(tk.encode(text, 'all'));

        /* the round trip proves the text survived JSON and UTF-16 */
        const back = Buffer.from(tk.decode(Uint32Array.from(ord)));
        const utf8 = Buffer.from(text, 'utf8');

        if (!back.equals(utf8)) {
            die('entry "' + text.slice(0, 40) + '" does not round-trip');
        }

        const jsOrd = js.encode(text, [], []);
        const jsAll = js.encode(text, 'all');

        if (jsOrd.join(' ') !== ord.join(' ')
            || jsAll.join(' ') !== all.join(' '))
        {
            if (disagree++ < 3) {
                process.stderr.write('vectors.js: ' + enc
                    + ': js-tiktoken differs from tiktoken on '
                    + JSON.stringify(text.slice(0, 60)) + '\n');
            }
        }

        /* '=': the same ids again (the sweep has no special tokens, and
         * is big enough without them twice) */
        const same = src === '--sweep' && all.join(' ') === ord.join(' ');

        lines.push(utf8.toString('hex') + '\t' + ord.join(' ') + '\t'
                   + (same ? '=' : all.join(' ')));
    }

    tk.free();

    const tmp = out + '.tmp' + process.pid;

    fs.writeFileSync(tmp, lines.join('\n') + '\n');
    fs.renameSync(tmp, out);

    process.stdout.write(out + ': ' + entries.length + ' entries'
        + (disagree ? ', js-tiktoken differs on ' + disagree : '') + '\n');
}

main();
