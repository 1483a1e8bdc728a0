#!/usr/bin/perl
# Writes the upstream bodies the benchmark serves: a ~1 KB chat completion
# and a 200-event chat.completion.chunk SSE stream (~57 KB) with usage.
use strict;
use warnings;

my $dir = shift or die "usage: make_bodies.pl DIR\n";

my $text = 'The sea keeps its own time, folding light into long grey '
    . 'swells that arrive like letters from somewhere far away. ' x 6;
$text =~ s/\s+$//;

my $json = '{"id":"chatcmpl-bench000000000000000000001","object":'
    . '"chat.completion","created":1732000000,"model":'
    . '"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":'
    . '"assistant","content":"' . $text . '","refusal":null},"logprobs":'
    . 'null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,'
    . '"completion_tokens":131,"total_tokens":150,"prompt_tokens_details":'
    . '{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":'
    . '{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,'
    . '"rejected_prediction_tokens":0}},"service_tier":"default",'
    . '"system_fingerprint":"fp_0aa8d3e20b"}';

open my $fh, '>', "$dir/chat.json" or die "$dir/chat.json: $!\n";
print $fh $json;
close $fh;

my $head = '{"id":"chatcmpl-bench000000000000000000002","object":'
    . '"chat.completion.chunk","created":1732000000,"model":'
    . '"gpt-4o-mini-2024-07-18","service_tier":"default",'
    . '"system_fingerprint":"fp_0aa8d3e20b","choices":[{"index":0,"delta":';
my @words = split / /, 'The sea keeps its own time folding light into long '
    . 'grey swells that arrive like letters from somewhere far away';
my $sse = "data: $head"
    . '{"role":"assistant","content":"","refusal":null},"logprobs":null,'
    . '"finish_reason":null}],"obfuscation":"Qx"}' . "\n\n";

for my $i (1 .. 198) {
    my $w = ' ' . $words[$i % @words];
    my $obf = substr('abcdefghijklmnopqrstuvwxyz', 0, 1 + $i % 11);
    $sse .= "data: $head" . '{"content":"' . $w . '"},"logprobs":null,'
        . '"finish_reason":null}],"obfuscation":"' . $obf . '"}' . "\n\n";
}

$sse .= "data: $head" . '{},"logprobs":null,"finish_reason":"stop"}],'
    . '"obfuscation":"k"}' . "\n\n";
$sse .= 'data: {"id":"chatcmpl-bench000000000000000000002","object":'
    . '"chat.completion.chunk","created":1732000000,"model":'
    . '"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":19,'
    . '"completion_tokens":198,"total_tokens":217}}' . "\n\n"
    . "data: [DONE]\n\n";

open $fh, '>', "$dir/stream.sse" or die "$dir/stream.sse: $!\n";
print $fh $sse;
close $fh;

printf "bodies: chat.json %d bytes, stream.sse %d bytes, 200 events\n",
    length $json, length $sse;
