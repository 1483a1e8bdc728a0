#!/usr/bin/env node
/*
 * make bench-tokenizer: tokens per second of llo_tok (tok_bench, C) against
 * the npm tiktoken package (OpenAI's Rust core in WASM) and js-tiktoken
 * (pure JS), on the same documents, for cl100k_base and o200k_base.
 *
 * usage: NODE_PATH=<npm dir>/node_modules node bench.js --bin <tok_bench>
 *            --data <build/tiktoken> --repo <repo> [--mb 4] [--sec 2]
 *
 * The corpus (written to <data>/bench-corpus.txt, documents separated by
 * NUL) is realistic traffic for this project: English prose (README,
 * docs, the licences in /usr/share/common-licenses), code (the repo's C,
 * Perl, SQL, shell) and the multilingual parity corpus (less its long
 * runs), cut into
 * documents of about 4 KiB at line ends and repeated to --mb megabytes.
 * Every implementation encodes every document, as ordinary text, for at
 * least --sec seconds; llo_tok also counts (no ids) and counts a stream
 * fed 20 bytes at a time.
 */

'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const { readCorpus } = require(path.join(__dirname, '..', '..', 'tools',
                                         'tiktoken', 'corpus.js'));
const tiktoken = require('tiktoken');
const { Tiktoken: JsTiktoken } = require('js-tiktoken/lite');

const ENCS = ['cl100k_base', 'o200k_base'];
const DOC = 4096;

function args() {
    const a = { mb: 4, sec: 2 };
    const v = process.argv.slice(2);

    for (let i = 0; i < v.length; i += 2) {
        a[v[i].replace(/^--/, '')] = v[i + 1];
    }

    if (!a.bin || !a.data || !a.repo) {
        process.stderr.write('usage: bench.js --bin <tok_bench> --data <dir> '
                             + '--repo <dir> [--mb 4] [--sec 2]\n');
        process.exit(1);
    }

    a.mb = Number(a.mb);
    a.sec = Number(a.sec);

    return a;
}

function walk(dir, exts, out) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })
                      .sort((x, y) => x.name.localeCompare(y.name)))
    {
        const p = path.join(dir, e.name);

        if (e.isDirectory()) {
            if (!e.name.startsWith('.') && e.name !== 'build'
                && e.name !== 'node_modules')
            {
                walk(p, exts, out);
            }
        } else if (exts.some((x) => e.name.endsWith(x))) {
            out.push(p);
        }
    }

    return out;
}

/* cut a text into documents of about DOC bytes at line ends */
function cut(text, docs) {
    let cur = '';

    for (const line of text.split(/(?<=\n)/)) {
        cur += line;

        if (Buffer.byteLength(cur) >= DOC) {
            docs.push(cur);
            cur = '';
        }
    }

    if (cur !== '') {
        docs.push(cur);
    }
}

function corpus(a) {
    const files = [];
    const lic = '/usr/share/common-licenses';

    files.push(...walk(a.repo, ['.md'], []));
    files.push(...walk(a.repo, ['.c', '.h', '.pl', '.pm', '.t', '.sql',
                                '.sh', '.lua', '.conf'], []));

    if (fs.existsSync(lic)) {
        for (const f of fs.readdirSync(lic).sort()) {
            const p = path.join(lic, f);

            if (fs.statSync(p).isFile()) {
                files.push(p);
            }
        }
    }

    const base = [];
    const kinds = { prose: 0, code: 0, multilingual: 0 };

    for (const f of files) {
        /* NUL separates documents in the file tok_bench reads */
        const text = fs.readFileSync(f, 'utf8').replace(/\0/g, '');
        const kind = /\.(c|h|pl|pm|t|sql|sh|lua|conf)$/.test(f) ? 'code'
                                                                : 'prose';

        kinds[kind] += Buffer.byteLength(text);
        cut(text, base);
    }

    /* not the long runs made to test the merge of long pieces: they
     * are no traffic, and js-tiktoken's quadratic merge would be all
     * that its figure measured */
    const tok = readCorpus(path.join(a.repo, 't', 'unit', 'fixtures',
                                     'tok_corpus.txt'))
                .filter((e) => e.length <= 1000)
                .join('\n')
                .replace(/\0/g, '');

    kinds.multilingual += Buffer.byteLength(tok);
    cut(tok, base);

    const docs = [];
    let bytes = 0;

    while (bytes < a.mb * 1024 * 1024) {
        for (const d of base) {
            docs.push(d);
            bytes += Buffer.byteLength(d);
        }
    }

    return { docs, bytes, kinds, files: files.length };
}

function time(sec, pass) {
    let tokens = 0;
    let passes = 0;

    pass();     /* warm up */

    const t0 = process.hrtime.bigint();
    let t1;

    do {
        tokens = pass();
        passes++;
        t1 = process.hrtime.bigint();
    } while (Number(t1 - t0) / 1e9 < sec);

    return { tokens, passes, sec: Number(t1 - t0) / 1e9 };
}

function main() {
    const a = args();
    const c = corpus(a);
    const file = path.join(a.data, 'bench-corpus.txt');

    fs.writeFileSync(file, c.docs.join('\0'));

    const mb = c.bytes / 1048576;

    console.log('corpus: ' + c.docs.length + ' documents, '
                + mb.toFixed(2) + ' MB (one copy: '
                + (c.kinds.prose / 1024).toFixed(0) + ' KB prose, '
                + (c.kinds.code / 1024).toFixed(0) + ' KB code, '
                + (c.kinds.multilingual / 1024).toFixed(0)
                + ' KB multilingual corpus, from ' + c.files + ' files), '
                + 'each run >= ' + a.sec + ' s');
    console.log('');

    const rows = [];

    for (const enc of ENCS) {
        const out = execFileSync(a.bin, [enc,
                                          path.join(a.data, enc + '.tiktoken'),
                                          file, String(a.sec)]);
        const r = JSON.parse(out.toString());

        const tk = tiktoken.get_encoding(enc);
        const wasm = time(a.sec, () => {
            let n = 0;
            for (const d of c.docs) {
                n += tk.encode_ordinary(d).length;
            }
            return n;
        });
        tk.free();

        const js = new JsTiktoken(require('js-tiktoken/ranks/' + enc));
        const pure = time(a.sec, () => {
            let n = 0;
            for (const d of c.docs) {
                n += js.encode(d, [], []).length;
            }
            return n;
        });

        const rate = (x) => x.tokens * x.passes / x.sec;
        const ref = rate(wasm);

        const row = (name, x) => rows.push({
            enc, name, tokens: x.tokens,
            mbs: mb * x.passes / x.sec,
            mtok: rate(x) / 1e6,
            ratio: rate(x) / ref,
            same: x.tokens === wasm.tokens ? '' : ' (tokens differ)'
        });

        row('llo_tok count', r.count);
        row('llo_tok encode', r.encode);
        row('llo_tok stream', r.stream);
        row('tiktoken (wasm)', wasm);
        row('js-tiktoken', pure);

        console.log(enc + ': llo_tok loads the rank file in '
                    + r.load_ms.toFixed(0) + ' ms, PCRE2 '
                    + (r.jit ? 'JIT' : 'interpreter'));
    }

    console.log('');

    const pad = (s, n) => String(s).padEnd(n);
    const lpad = (s, n) => String(s).padStart(n);

    console.log(pad('encoding', 13) + pad('implementation', 17)
                + lpad('tokens', 10) + lpad('MB/s', 9) + lpad('Mtok/s', 9)
                + lpad('x tiktoken', 12));

    for (const r of rows) {
        console.log(pad(r.enc, 13) + pad(r.name, 17) + lpad(r.tokens, 10)
                    + lpad(r.mbs.toFixed(1), 9) + lpad(r.mtok.toFixed(2), 9)
                    + lpad(r.ratio.toFixed(2), 12) + r.same);
    }
}

main();
