#!/usr/bin/env node
/*
 * Turn the npm tiktoken package's encoders/<enc>.json into the files
 * llo_tok reads and checks:
 *
 *   <out>/<enc>.tiktoken   "<base64 token> <rank>\n" per token, rank order:
 *                          the format OpenAI publishes
 *   <out>/<enc>.pat        pat_str, byte for byte, no newline
 *   <out>/<enc>.special    "<text> <id>\n" per special token, by id
 *
 * usage: NODE_PATH=<npm dir>/node_modules node convert.js <enc> <out dir>
 *
 * bpe_ranks in the package is a compact form of the same table: lines of
 * "<anything> <first rank> <base64> <base64> ...", the tokens of a line
 * taking consecutive ranks from the first one (see js-tiktoken's
 * constructor).  Each file is written to a temporary name and renamed, so
 * an interrupted run never leaves a short file that make thinks is done.
 */

'use strict';

const fs = require('fs');
const path = require('path');

function die(msg) {
    process.stderr.write('convert.js: ' + msg + '\n');
    process.exit(1);
}

function writeAtomic(file, data) {
    const tmp = file + '.tmp' + process.pid;

    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
}

function main() {
    const [enc, out] = process.argv.slice(2);

    if (!enc || !out) {
        die('usage: convert.js <encoding> <out dir>');
    }

    const file = require.resolve('tiktoken/encoders/' + enc + '.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));

    const ranks = [];

    for (const line of json.bpe_ranks.split('\n')) {
        if (line === '') {
            continue;
        }

        const [, first, ...tokens] = line.split(' ');
        const base = Number.parseInt(first, 10);

        if (!Number.isInteger(base) || base < 0) {
            die(file + ': bad first rank "' + first + '"');
        }

        tokens.forEach((tok, i) => {
            if (ranks[base + i] !== undefined) {
                die(file + ': rank ' + (base + i) + ' given twice');
            }
            ranks[base + i] = tok;
        });
    }

    /* the published files have no holes in their ranks; nor may ours */
    const lines = [];
    const seen = new Set();

    for (let r = 0; r < ranks.length; r++) {
        const tok = ranks[r];

        if (tok === undefined) {
            die(file + ': no token for rank ' + r);
        }

        /* normalise the base64 (and prove it is base64) */
        const b64 = Buffer.from(tok, 'base64').toString('base64');

        if (b64 !== tok) {
            die(file + ': token "' + tok + '" (rank ' + r
                + ') is not canonical base64');
        }

        if (seen.has(b64)) {
            die(file + ': token "' + tok + '" given twice');
        }

        seen.add(b64);
        lines.push(b64 + ' ' + r + '\n');
    }

    const special = Object.entries(json.special_tokens)
        .sort((a, b) => a[1] - b[1])
        .map(([text, id]) => text + ' ' + id + '\n')
        .join('');

    fs.mkdirSync(out, { recursive: true });
    writeAtomic(path.join(out, enc + '.pat'), json.pat_str);
    writeAtomic(path.join(out, enc + '.special'), special);
    writeAtomic(path.join(out, enc + '.tiktoken'), lines.join(''));

    process.stdout.write(enc + ': ' + ranks.length + ' tokens, '
                         + Object.keys(json.special_tokens).length
                         + ' special\n');
}

main();
