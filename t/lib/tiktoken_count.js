// Reference token counts for the integration tests, from the npm tiktoken
// package (the same package the parity vectors come from).
//
//   NODE_PATH=build/npm/node_modules node t/lib/tiktoken_count.js
//
// stdin: one JSON array of [encoding, base64 text] pairs; stdout: one JSON
// array of counts (encode_ordinary: special-token text counts as text).

"use strict";

const { get_encoding } = require("tiktoken");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
    const encs = {};
    const out = JSON.parse(input).map(([enc, b64]) => {
        encs[enc] = encs[enc] || get_encoding(enc);
        const text = Buffer.from(b64, "base64").toString("utf8");
        return encs[enc].encode_ordinary(text).length;
    });
    for (const e of Object.values(encs)) {
        e.free();
    }
    process.stdout.write(JSON.stringify(out) + "\n");
});
