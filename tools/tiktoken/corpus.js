/*
 * The corpus file format of t/unit/fixtures/tok_corpus.txt, shared by
 * vectors.js and bench/tokenizer/bench.js: one JSON value per line ('#'
 * lines and blank lines are skipped):
 *
 *   "text"                           one entry
 *   {"repeat": "ab", "n": 5000,      "ab" 5000 times, between the
 *    "prefix": "x", "suffix": "y"}   optional prefix and suffix
 *   {"mix": 200, "seed": 7,          200 entries of up to 80 fragments
 *    "max": 80, "from": [...]}       drawn at random from "from"
 */

'use strict';

const fs = require('fs');

/* xorshift32: the same entries on every machine and node version */
function rng(seed) {
    let x = (seed >>> 0) || 1;

    return function (n) {
        x ^= x << 13; x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5; x >>>= 0;
        return x % n;
    };
}

function readCorpus(file) {
    const entries = [];
    const lines = fs.readFileSync(file, 'utf8').split('\n');

    lines.forEach((line, i) => {
        const where = file + ':' + (i + 1);

        if (line.trim() === '' || line.startsWith('#')) {
            return;
        }

        let v;

        try {
            v = JSON.parse(line);
        } catch (e) {
            throw new Error(where + ': ' + e.message);
        }

        if (typeof v === 'string') {
            entries.push(v);

        } else if (v !== null && typeof v.repeat === 'string') {
            entries.push((v.prefix || '') + v.repeat.repeat(v.n)
                         + (v.suffix || ''));

        } else if (v !== null && Array.isArray(v.from)) {
            const r = rng(v.seed);

            for (let k = 0; k < v.mix; k++) {
                let s = '';
                const n = 1 + r(v.max);

                for (let j = 0; j < n; j++) {
                    s += v.from[r(v.from.length)];
                }
                entries.push(s);
            }

        } else {
            throw new Error(where + ': neither a string, a repeat nor a mix');
        }
    });

    return entries;
}

module.exports = { readCorpus, rng };
