#!/usr/bin/perl

# llm_observer_stream_usage: an OpenAI streaming request whose client did
# not ask for usage is sent upstream with stream_options.include_usage,
# the provider's usage chunk is cut from the stream, and the client gets
# exactly the bytes it gets with the directive off.  The fake upstream
# ("sse_auto") answers like OpenAI: the usage chunk only when asked.
# Requests that already say something about stream_options, that do not
# stream, or whose body went to a temp file are forwarded unchanged.

use strict;
use warnings;

use Test::More;

use LLOTest;
use LLOFixtures;
use LLOPipeline;

my $p    = pipeline_start();
my $up   = $p->{up};
my $dir  = $p->{dir};
my $ring = $p->{ring};
my $upp  = $up->{port};

my $on  = free_port();
my $off = free_port();

sub server {
    my ($port, $flag) = @_;
    return <<"EOF";
    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        llm_observer_stream_usage $flag;
        client_body_buffer_size 16k;
        client_max_body_size 4m;

        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://127.0.0.1:$upp;
        }

        location /buffered/ {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            proxy_pass http://127.0.0.1:$upp/;
        }
    }
EOF
}

my $ng = nginx_start(dir => $dir, http => "    llm_observer_ring $ring size=4m;\n"
    . server($on, 'on') . server($off, 'off'));

my $NOUSAGE = LLOFixtures::expected_body('sse_nousage');
my $USAGE   = LLOFixtures::expected_facts('sse_usage');

my $MSGS = q("messages":[{"role":"user","content":"Count to three"}]);

sub call {
    my ($port, $body, %o) = @_;
    my $path = delete $o{path} // '/v1/chat/completions';
    return http_req(port => $port, path => $path,
        headers => [ [ 'x-scenario', 'sse_auto' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => $body, %o);
}

# the request the upstream got for the n-th call from now
my $seen = 0;
sub upstream_got {
    my @l = grep { $_->{scenario} eq 'sse_auto' } upstream_log($up);
    my $r = $l[$seen++];
    return $r // {};
}

sub decode_ok {
    my ($bytes) = @_;
    my $j = eval { json_decode($bytes) };
    return $j;
}

my @cases = (
    # name, body, added?
    [ 'model first', qq({"model":"gpt-4o-mini",$MSGS,"stream":true}), 1 ],
    [ 'stream first, blanks after the brace',
      qq({"stream":true,"model":"gpt-4o-mini",$MSGS}\n  \r\n), 1 ],
    [ 'include_usage false kept',
      qq({"model":"gpt-4o-mini",$MSGS,"stream":true,"stream_options":{"include_usage":false}}), 0 ],
    [ 'not streaming', qq({"model":"gpt-4o-mini",$MSGS,"stream":false}), 0 ],
    [ 'stream absent', qq({"model":"gpt-4o-mini",$MSGS}), 0 ],
    [ 'not JSON', qq({"model":"gpt-4o-mini","stream":true,), 0 ],
);

for my $c (@cases) {
    my ($name, $body, $added) = @$c;
    call($off, $body);
    my $got_off = upstream_got();
    call($on, $body);
    my $got_on = upstream_got();

    is($got_off->{body}, $body, "$name: off: upstream gets the body as sent");

    if ($added) {
        my $j = decode_ok($got_on->{body});
        ok($j && $j->{stream_options}{include_usage},
            "$name: on: upstream gets valid JSON asking for usage");
        my $orig = decode_ok($body);
        delete $j->{stream_options} if $j;
        is_deeply($j, $orig, "$name: on: and otherwise the same request");
        is($got_on->{headers}{'content-length'}, length $got_on->{body},
            "$name: on: Content-Length matches the new body");
    } else {
        is($got_on->{body}, $body, "$name: on: upstream gets the body as sent");
    }
}

# the client's bytes: identical with the directive off and on
for my $c (grep { $_->[2] } @cases) {
    my ($name, $body) = @$c;
    my $r_off = call($off, $body);
    my $r_on = call($on, $body);
    upstream_got() for 1 .. 2;

    is($r_off->{status}, 200, "$name: off: 200");
    is($r_on->{status}, 200, "$name: on: 200");
    ok($r_off->{body} eq $NOUSAGE, "$name: off: the client gets the stream");
    ok($r_on->{body} eq $r_off->{body},
        "$name: on: the client gets exactly the same bytes")
        or diag("on:\n$r_on->{body}\noff:\n$r_off->{body}");
    ok(!exists $r_on->{headers}{'content-length'}
        || $r_on->{headers}{'content-length'} == length $r_on->{body},
        "$name: on: no stale Content-Length");

    my $w = drained_row($p, $r_on->{headers}{'x-llm-id'});
    is($w->{usage_added}, 1, "$name: on: row says usage was added");
    is($w->{token_source}, 'provider', "$name: on: counts are the provider's");
    is($w->{prompt_tokens}, $USAGE->{prompt_tokens}, "$name: on: prompt_tokens");
    is($w->{completion_tokens}, $USAGE->{completion_tokens},
        "$name: on: completion_tokens");
    is($w->{total_tokens}, $USAGE->{total_tokens}, "$name: on: total_tokens");
    is($w->{incomplete}, 0, "$name: on: complete");
    is($w->{finish_reason}, 'stop', "$name: on: finish_reason");

    my $v = drained_row($p, $r_off->{headers}{'x-llm-id'});
    is($v->{usage_added}, 0, "$name: off: usage not added");
    is($v->{token_source}, 'none', "$name: off: no counts without a tokenizer");
}

# proxy_buffering on: same bytes
{
    my $body = $cases[0][1];
    my $path = '/buffered/v1/chat/completions';
    my $r_off = call($off, $body, path => $path);
    my $r_on = call($on, $body, path => $path);
    upstream_got() for 1 .. 2;
    ok($r_on->{body} eq $NOUSAGE && $r_off->{body} eq $NOUSAGE,
        'proxy_buffering on: the client gets the same bytes');
    my $w = drained_row($p, $r_on->{headers}{'x-llm-id'});
    is($w->{token_source}, 'provider', 'proxy_buffering on: provider counts');
}

# a chunked request body: changed, and sent with its new length
{
    my $body = $cases[0][1];
    my $r = call($on, $body, chunked => 1, chunk_size => 7);
    my $got = upstream_got();
    my $j = decode_ok($got->{body});
    ok($j && $j->{stream_options}{include_usage},
        'chunked request: upstream gets valid JSON asking for usage');
    ok($r->{body} eq $NOUSAGE, 'chunked request: client gets the same bytes');
}

# a body nginx wrote to a temp file is sent unchanged
{
    my $pad = 'x' x 40_000;
    my $body = qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":"$pad"}],"stream":true});
    my $r = call($on, $body);
    my $got = upstream_got();
    is($got->{body}, $body, 'body in a temp file: upstream gets it as sent');
    ok($r->{body} eq $NOUSAGE, 'body in a temp file: client gets the stream');
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{usage_added}, 0, 'body in a temp file: usage not added');
}

error_log_ok($ng);
nginx_stop($ng);
done_testing;
