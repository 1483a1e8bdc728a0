#!/usr/bin/perl

# Streamed (SSE) chat completions through nginx + llm_observer with
# proxy_buffering off: the client gets every byte unchanged and without
# added delay; the row holds the fixture's text (UTF-8 split across
# writes), usage, finish reason; an upstream that dies mid-stream gives
# incomplete = true, a client that goes away gives client_aborted = true.

use strict;
use warnings;

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

use LLOTest;
use LLOFixtures;
use LLOPipeline;

my $p   = pipeline_start();
my $up  = $p->{up};
my $dir = $p->{dir};
my $ring = $p->{ring};

my $port = free_port();
my $upp = $up->{port};
my $ng = nginx_start(dir => $dir, http => <<"EOF");
    llm_observer_ring $ring size=4m;

    log_format llm '\$llm_request_id|\$llm_stream|\$llm_ttft_ms|\$llm_finish_reason|\$llm_prompt_tokens|\$llm_completion_tokens|\$llm_total_tokens|\$llm_model';

    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        access_log $dir/llm.log llm;

        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF

my $PROMPT = "Count to three, \xc3\xa9l\xc3\xa8ve";

sub req_body {
    my ($max) = @_;
    return qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":"$PROMPT"}],)
        . qq("stream":true,"stream_options":{"include_usage":true},"max_tokens":$max});
}

sub call {
    my ($name, $max, %o) = @_;
    return http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', $name ], [ 'Content-Type', 'application/json' ] ],
        body => req_body($max), %o);
}

sub expected {
    my ($name) = @_;
    return http_req(port => $upp, method => 'GET', path => "/__expected/$name")->{body};
}

# the fields every streamed row has from the request
sub request_facts_ok {
    my ($name, $w, $max) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($w->{request_model}, 'gpt-4o-mini', "$name: request_model");
    is($w->{max_tokens}, $max, "$name: max_tokens");
    ok(($w->{prompt_text} // '') eq $PROMPT, "$name: prompt_text");
    is($w->{stream}, 1, "$name: stream true");
    is($w->{provider}, 'openai', "$name: provider");
    is($w->{endpoint}, '/v1/chat/completions', "$name: endpoint");
    is($w->{client_addr}, '127.0.0.1', "$name: client_addr");
    ok(($w->{bytes_in} // 0) > 0 && ($w->{bytes_out} // 0) > 0,
        "$name: bytes_in, bytes_out > 0");
}

# ----------------------------------------------------- complete streams

my (%id, %row);
my $max = 200;
for my $name (qw(sse_usage sse_crlf sse_nousage gzip_sse slow)) {
    my $s = LLOFixtures::scenario($name);
    my $f = $s->{facts};
    my $exp = expected($name);
    my $r = call($name, ++$max);

    is($r->{status}, 200, "$name: client status");
    ok($r->{complete}, "$name: client response complete");
    is($r->{headers}{'transfer-encoding'}, 'chunked', "$name: chunked to the client");
    ok($r->{body} eq $exp, "$name: client body byte-identical to /__expected")
        or diag("got " . length($r->{body}) . " bytes, expected " . length($exp));
    is($r->{headers}{'content-encoding'}, $f->{content_encoding},
        "$name: Content-Encoding passes");
    like($r->{headers}{'x-llm-id'} // '', $UUID, "$name: X-LLM-Id");
    $id{$name} = $r->{headers}{'x-llm-id'} // 'none';

    my $w = $row{$name} = drained_row($p, $id{$name});
    request_facts_ok($name, $w, $max);
    is($w->{status}, 200, "$name: status");
    is($w->{upstream_status}, 200, "$name: upstream_status");
    ok(($w->{response_text} // '') eq $f->{text},
        "$name: response_text equals the fixture text exactly")
        or diag("got: " . ($w->{response_text} // 'NULL'));
    for my $k (qw(prompt_tokens completion_tokens total_tokens cached_tokens
        reasoning_tokens finish_reason))
    {
        is($w->{$k}, $f->{$k}, "$name: $k");
    }
    is($w->{response_model}, $f->{model}, "$name: response_model");
    is($w->{response_id}, $f->{response_id}, "$name: response_id");
    is($w->{token_source}, $f->{prompt_tokens} ? 'provider' : 'none',
        "$name: token_source");
    is($w->{incomplete}, 0, "$name: incomplete false");
    is($w->{client_aborted}, 0, "$name: client_aborted false");
    is($w->{response_truncated}, 0, "$name: response_truncated false");
    is($w->{parse_error}, undef, "$name: parse_error NULL");
    is($w->{error_type}, undef, "$name: error_type NULL");
    ok(defined $w->{ttft_ms} && $w->{ttft_ms} >= 0
        && $w->{latency_ms} >= $w->{ttft_ms},
        "$name: latency_ms ($w->{latency_ms}) >= ttft_ms ($w->{ttft_ms}) >= 0");
}

# sse_nousage: explicitly NULL tokens
{
    my $w = $row{sse_nousage};
    ok(!defined $w->{prompt_tokens} && !defined $w->{completion_tokens}
        && !defined $w->{total_tokens}, 'sse_nousage: tokens NULL');
    is($w->{token_source}, 'none', "sse_nousage: token_source 'none'");
}

# slow: 10 events 150 ms apart; the first byte comes long before the end
{
    my $w = $row{slow};
    ok($w->{latency_ms} > 1200, "slow: latency_ms ($w->{latency_ms}) spans the stream");
    # after the first event the upstream still sleeps 9 x 150 ms
    ok($w->{latency_ms} - $w->{ttft_ms} > 1200,
        "slow: ttft_ms ($w->{ttft_ms}) well below latency_ms ($w->{latency_ms})");
}

# slow, raw socket: the first event reaches the client while the upstream is
# still streaming, i.e. nginx + llm_observer add no buffering
{
    my $first_event = (LLOFixtures::scenario('slow')->{pieces})->[0];
    my $body = req_body(300);
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
        . "x-scenario: slow\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 5) or die "connect: $!";
    binmode $sock;
    my $t0 = time;
    syswrite($sock, $req) == length $req or die "write: $!";
    my $sel = IO::Select->new($sock);
    my ($raw, $t_first, $t_end) = ('', undef, undef);
    while (time - $t0 < 10) {
        last unless $sel->can_read(10 - (time - $t0));
        my $n = sysread($sock, $raw, 65536, length $raw);
        if (!$n) { $t_end = time; last }
        my $he = index($raw, "\r\n\r\n");
        if (!defined $t_first && $he >= 0
            && index($raw, $first_event, $he) >= 0)
        {
            $t_first = time;
        }
    }
    close $sock;
    ok(defined $t_first, 'slow (raw socket): first event arrives');
    ok(defined $t_end, 'slow (raw socket): stream ends');
    $t_first //= 99;
    $t_end //= 0;
    # if anything held the response back, the first event would come with
    # the last; the upstream sleeps 9 x 150 ms after sending it
    ok($t_end - $t_first > 1.2,
        sprintf('slow (raw socket): first event after %.3f s, %.3f s before the end (> 1.2 s)',
            $t_first - $t0, $t_end - $t_first));
}

# --------------------------------------------------- upstream dies mid-stream

{
    my $name = 'abort_mid';
    my $f = LLOFixtures::scenario($name)->{facts};
    my $exp = expected($name);
    my $r = call($name, 400);
    is($r->{status}, 200, "$name: client status");
    ok(!$r->{complete}, "$name: client sees an unterminated chunked body");
    ok($r->{body} eq $exp, "$name: client got every byte the upstream sent")
        or diag("got " . length($r->{body}) . " bytes, expected " . length($exp));
    my $w = drained_row($p, $r->{headers}{'x-llm-id'} // 'none');
    request_facts_ok($name, $w, 400);
    is($w->{incomplete}, 1, "$name: incomplete true");
    ok(($w->{response_text} // '') eq $f->{text}, "$name: response_text is the text so far")
        or diag("got: " . ($w->{response_text} // 'NULL'));
    is($w->{response_id}, $f->{response_id}, "$name: response_id");
    is($w->{response_model}, $f->{model}, "$name: response_model");
    is($w->{finish_reason}, undef, "$name: finish_reason NULL");
    is($w->{prompt_tokens}, undef, "$name: prompt_tokens NULL");
    is($w->{token_source}, 'none', "$name: token_source 'none'");
    is($w->{client_aborted}, 0, "$name: client_aborted false");
    is($w->{upstream_status}, 200, "$name: upstream_status");
}

# ------------------------------------------------ client goes away mid-stream

{
    my $name = 'client abort (slow)';
    my $f = LLOFixtures::scenario('slow')->{facts};
    my $probe = call('slow', 1, read_timeout => 0.4);
    my $he = index($probe->{raw}, "\r\n\r\n");
    ok($he > 0, "$name: header size measured ($he)");
    # abort inside the third event: the client has had the first two
    my @p = @{ LLOFixtures::scenario('slow')->{pieces} };
    my $two = 0;
    $two += length(sprintf("%x\r\n", length $_)) + length($_) + 2 for @p[0, 1];
    my $r = call('slow', 500, abort_after_bytes => $he + 4 + $two + 30);
    ok($r->{aborted}, "$name: client aborted after " . length($r->{raw}) . " bytes");
    my $w = drained_row($p, $r->{headers}{'x-llm-id'} // 'none');
    request_facts_ok($name, $w, 500);
    is($w->{client_aborted}, 1, "$name: client_aborted true");
    is($w->{incomplete}, 1, "$name: incomplete true");
    my $t = $w->{response_text} // '';
    ok(length($t) < length($f->{text}) && substr($f->{text}, 0, length $t) eq $t,
        "$name: response_text is a proper prefix of the text ('$t')");
    ok(length($t) >= length('Hello'), "$name: response_text has what the client got");
    ok(($w->{latency_ms} // 9999) < 1200,
        "$name: the record is written when nginx notices, not at the stream's end"
        . " (latency_ms $w->{latency_ms})");
}

# ------------------------------------------------------------- access log

{
    my %log;
    open my $lfh, '<', "$dir/llm.log" or die "$dir/llm.log: $!";
    while (my $l = <$lfh>) {
        chomp $l;
        my @f = split /\|/, $l, -1;
        $log{ $f[0] } = \@f;
    }
    close $lfh;
    for my $name (sort keys %row) {
        my $w = $row{$name};
        my $l = $log{ $id{$name} };
        ok($l, "$name: access log line") or next;
        is($l->[1], 1, "$name: log \$llm_stream 1");
        is($l->[2], int($w->{ttft_ms}), "$name: log \$llm_ttft_ms = int(row ttft_ms)");
        is($l->[3], $w->{finish_reason} // '-', "$name: log \$llm_finish_reason");
        is($l->[4], $w->{prompt_tokens} // '-', "$name: log \$llm_prompt_tokens");
        is($l->[5], $w->{completion_tokens} // '-', "$name: log \$llm_completion_tokens");
        is($l->[6], $w->{total_tokens} // '-', "$name: log \$llm_total_tokens");
        is($l->[7], $w->{response_model}, "$name: log \$llm_model");
    }
}

my ($rc, $out) = ev($p, 'ring-stat');
like($out, qr/^drops 0$/m, 'ring-stat: no drops');
like($out, qr/^torn 0$/m, 'ring-stat: nothing torn');

nginx_stop($ng);
error_log_ok($ng, allow => [
    # abort_mid: the upstream closes before the terminating chunk
    qr/\[error\] .*upstream prematurely closed connection while reading upstream/,
]);

done_testing;
