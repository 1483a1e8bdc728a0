#!/usr/bin/perl

# Non-streamed chat completions through nginx + llm_observer: the client
# gets the upstream's bytes unchanged, and after "llm-evaluator drain" the
# row holds exactly what the fixture says the response contained, plus
# what the request body said.  The $llm_* variables in an access log agree
# with the row.

use strict;
use warnings;

use Test::More;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);

use LLOTest;
use LLOFixtures;
use LLOPipeline;

my $p   = pipeline_start();
my $up  = $p->{up};
my $pg  = $p->{pg};
my $dir = $p->{dir};
my $ring = $p->{ring};

my $port = free_port();
my $port_slow = free_port();
my $port_slow_sf = free_port();
my $upp = $up->{port};
my $ng = nginx_start(dir => $dir, http => <<"EOF");
    llm_observer_ring $ring size=4m;

    log_format llm '\$llm_request_id|\$request_id|\$llm_model|\$llm_prompt_tokens|\$llm_completion_tokens|\$llm_total_tokens|\$llm_ttft_ms|\$llm_stream|\$llm_finish_reason|\$status';

    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        llm_observer_max_text 1m;
        access_log $dir/llm.log llm;

        location / {
            add_header X-LLM-Id \$llm_request_id always;
            add_header X-Req-Id \$request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # the module observes memory buffers only (see the in_file case)
            proxy_max_temp_file_size 0;
            proxy_pass http://127.0.0.1:$upp;
        }
    }

    # a client that reads slowly makes nginx spill a big response to a
    # proxy temp file (default proxy_max_temp_file_size); with sendfile off
    # the copy filter reads it back into memory above llm_observer's body
    # filter, with sendfile on the file goes to the socket unread
    server {
        listen 127.0.0.1:$port_slow sndbuf=4k;
        llm_observer on;
        llm_observer_max_text 1m;
        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_buffers 4 4k;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
    server {
        listen 127.0.0.1:$port_slow_sf sndbuf=4k;
        llm_observer on;
        llm_observer_max_text 1m;
        sendfile on;
        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_buffers 4 4k;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF

my $SYSTEM = 'You are terse.';
my $USER_JSON = 'Say hello to the w\u00f6rld \"now\" \u2014 \u4f60\u597d';
my $USER = qq{Say hello to the w\xc3\xb6rld "now" \xe2\x80\x94 \xe4\xbd\xa0\xe5\xa5\xbd};

sub req_body {
    my ($max, %o) = @_;
    my $stream = exists $o{stream} ? $o{stream} : '"stream":false,';
    return qq({"model":"gpt-4o-mini",$stream"max_tokens":$max,"messages":[)
        . qq({"role":"system","content":"$SYSTEM"},)
        . qq({"role":"user","content":"$USER_JSON"}],"temperature":0.2});
}

my @SCEN = qw(json json_chunked big gzip error400 error429 error500 notjson
    badjson);

my (%res, %id, %rid, %max);
my $t_start = time;
my $i = 0;
for my $name (@SCEN) {
    my $s = LLOFixtures::scenario($name);
    my $exp = http_req(port => $upp, method => 'GET', path => "/__expected/$name");
    is($exp->{status}, 200, "$name: /__expected fetched");

    $max{$name} = 100 + $i++;
    my $body = req_body($max{$name});
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'Host', 'llm-020.test' ], [ 'x-scenario', $name ],
                     [ 'Content-Type', 'application/json' ] ],
        body => $body);
    $res{$name} = $r;

    is($r->{status}, $s->{status}, "$name: client status");
    ok($r->{complete}, "$name: client response complete");
    ok($r->{body} eq $exp->{body}, "$name: client body byte-identical to /__expected")
        or diag("got " . length($r->{body}) . " bytes, expected "
            . length($exp->{body}));
    is($r->{headers}{'content-encoding'}, $s->{facts}{content_encoding},
        "$name: Content-Encoding passes");
    is($r->{headers}{'x-upstream-scenario'}, $name, "$name: upstream headers pass");
    like($r->{headers}{'x-llm-id'} // '', $UUID,
        "$name: add_header X-LLM-Id \$llm_request_id gives a UUID");
    $id{$name} = $r->{headers}{'x-llm-id'} // 'none';
    $rid{$name} = $r->{headers}{'x-req-id'} // 'none';
}

# the same call without "stream" in the request: $llm_stream and the row
# must still agree (a JSON response was not streamed)
my $nostream = http_req(port => $port, path => '/v1/chat/completions',
    headers => [ [ 'x-scenario', 'json' ] ],
    body => req_body(99, stream => ''));
is($nostream->{status}, 200, 'no "stream" in request: status');
my $nostream_id = $nostream->{headers}{'x-llm-id'} // 'none';

my $nreq = @SCEN + 1;
my %ids = map { $_ => 1 } values(%id), $nostream_id;
is(scalar keys %ids, $nreq, 'every call got its own $llm_request_id');

# nginx appends a record when it finishes a request, which may be a moment
# after the client saw the end of the response: drain until all are there
my ($rc, $out);
my $count = 0;
wait_for(sub {
    ($rc, $out) = ev($p, 'drain');
    $count = psql($pg, 'SELECT count(*) FROM llm_requests');
    return $rc || $count >= $nreq;
}, timeout => 10, interval => 0.2);
is($rc, 0, 'llm-evaluator drain exits 0') or diag($out);
is($count, $nreq, "$nreq rows after drain");

my %row;
for my $name (@SCEN) {
    my $s = LLOFixtures::scenario($name);
    my $f = $s->{facts};
    my $r = $res{$name};
    my @rows = rows($p, "id = '$id{$name}'");
    is(scalar @rows, 1, "$name: one row with id = \$llm_request_id");
    my $w = $row{$name} = $rows[0] // {};

    # facts of the response
    is($w->{status}, $f->{status}, "$name: status");
    is($w->{upstream_status}, $f->{status}, "$name: upstream_status");
    is($w->{response_model}, $f->{model}, "$name: response_model");
    if ($name eq 'badjson') {
        # the id comes before the garbage: the parser has seen it
        is($w->{response_id}, 'chatcmpl-LLObadjson000', "$name: response_id seen before the error");
    } else {
        is($w->{response_id}, $f->{response_id}, "$name: response_id");
    }
    for my $k (qw(prompt_tokens completion_tokens total_tokens cached_tokens
        reasoning_tokens finish_reason error_type error_message))
    {
        is($w->{$k}, $f->{$k}, "$name: $k");
    }
    ok(($w->{response_text} // '') eq $f->{text}, "$name: response_text bytes")
        or diag('got ' . length($w->{response_text} // '') . ' bytes, expected '
            . length($f->{text}));
    is($w->{token_source}, defined $f->{prompt_tokens} ? 'provider' : 'none',
        "$name: token_source");
    if ($f->{parse_error}) {
        # the body is valid JSON up to the first '<': the error names
        # that byte, counting from 1 (bytes consumed when it was found)
        my $at = index($s->{body}, '<<<') + 1;
        like($w->{parse_error} // '', qr/^invalid JSON at byte \Q$at\E of response\b/,
            "$name: parse_error names the byte ($at)");
    } else {
        is($w->{parse_error}, undef, "$name: parse_error NULL");
    }
    is($w->{response_truncated}, 0, "$name: response_truncated false");
    is($w->{incomplete}, 0, "$name: incomplete false");
    is($w->{client_aborted}, 0, "$name: client_aborted false");

    # facts of the request
    is($w->{request_model}, 'gpt-4o-mini', "$name: request_model");
    is($w->{stream}, 0, "$name: stream false");
    is($w->{max_tokens}, $max{$name}, "$name: max_tokens");
    ok(($w->{prompt_text} // '') eq "$SYSTEM\n$USER", "$name: prompt_text")
        or diag("got: " . ($w->{prompt_text} // 'NULL'));
    is($w->{prompt_truncated}, 0, "$name: prompt_truncated false");

    # the call
    is($w->{provider}, 'openai', "$name: provider");
    is($w->{endpoint}, '/v1/chat/completions', "$name: endpoint");
    is($w->{client_addr}, '127.0.0.1', "$name: client_addr");
    is($w->{host}, 'llm-020.test', "$name: host");
    is($w->{request_id}, $rid{$name}, "$name: request_id is nginx \$request_id");
    ok(($w->{bytes_in} // 0) > length(req_body($max{$name})),
        "$name: bytes_in > body length ($w->{bytes_in})");
    is($w->{bytes_out}, length $r->{raw}, "$name: bytes_out = bytes the client got");
    ok(defined $w->{ttft_ms} && $w->{ttft_ms} >= 0, "$name: ttft_ms >= 0");
    ok(defined $w->{latency_ms} && defined $w->{ttft_ms}
        && $w->{latency_ms} >= $w->{ttft_ms},
        "$name: latency_ms ($w->{latency_ms}) >= ttft_ms ($w->{ttft_ms})");
    my $ts = psql($pg, "SELECT extract(epoch FROM ts) FROM llm_requests WHERE id = '$id{$name}'");
    ok($ts >= $t_start - 1 && $ts <= time + 1, "$name: ts is the request time")
        or diag("ts $w->{ts}");
}

{
    my ($w) = rows($p, "id = '$nostream_id'");
    is($w->{request_model}, 'gpt-4o-mini', 'no "stream" in request: row');
    is($w->{stream}, 0, 'no "stream" in request, JSON response: stream false');
}

# ------------------------------------------------------------- access log

my %log;
ok(wait_for(sub { -s "$dir/llm.log" }, timeout => 2), 'access log written');
open my $lfh, '<', "$dir/llm.log" or die "$dir/llm.log: $!";
while (my $l = <$lfh>) {
    chomp $l;
    my @f = split /\|/, $l, -1;
    $log{ $f[0] } = \@f;
}
close $lfh;

sub dash { defined $_[0] ? $_[0] : '-' }

for my $name (@SCEN, 'nostream') {
    my $id = $name eq 'nostream' ? $nostream_id : $id{$name};
    my ($w) = $name eq 'nostream' ? rows($p, "id = '$id'") : $row{$name};
    my $l = $log{$id};
    ok($l, "$name: access log line with \$llm_request_id = row id") or next;
    is($l->[1], $w->{request_id}, "$name: log \$request_id = row request_id");
    is($l->[2], dash($w->{response_model} // $w->{request_model}),
        "$name: log \$llm_model = row response_model (else request_model)");
    is($l->[3], dash($w->{prompt_tokens}), "$name: log \$llm_prompt_tokens = row");
    is($l->[4], dash($w->{completion_tokens}), "$name: log \$llm_completion_tokens = row");
    is($l->[5], dash($w->{total_tokens}), "$name: log \$llm_total_tokens = row");
    is($l->[6], defined $w->{ttft_ms} ? int($w->{ttft_ms}) : '-',
        "$name: log \$llm_ttft_ms = int(row ttft_ms)");
    is($l->[7], defined $w->{stream} ? $w->{stream} : '-', "$name: log \$llm_stream = row stream");
    is($l->[8], dash($w->{finish_reason}), "$name: log \$llm_finish_reason = row");
    is($l->[9], $w->{status}, "$name: log \$status = row status");
}

# ------------------------------------- response body in a proxy temp file

# a client that does not read for a second: nginx spills the response to a
# temp file; returns (raw response, X-LLM-Id)
sub slow_client_big {
    my ($to) = @_;
    my $body = req_body(7);
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($to, inet_aton('127.0.0.1'))) or die "connect: $!";
    binmode $s;
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nx-scenario: big\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
    syswrite($s, $req) == length $req or die "write: $!";
    sleep 1;
    my $raw = '';
    while (sysread($s, $raw, 65536, length $raw)) { }
    close $s;
    my $he = index($raw, "\r\n\r\n");
    my ($id) = substr($raw, 0, $he) =~ /^X-LLM-Id: (\S+)\r?$/mi;
    return (substr($raw, $he + 4), $id // 'none');
}

for my $sf (0, 1) {
    my $name = 'big, slow client, temp file, sendfile ' . ($sf ? 'on' : 'off');
    my $f = LLOFixtures::expected_facts('big');
    my $warns = () = do { local (@ARGV, $/) = $ng->{error_log}; <> }
        =~ /\[warn\] .*an upstream response is buffered to a temporary file/g;
    my ($body, $id) = slow_client_big($sf ? $port_slow_sf : $port_slow);
    ok($body eq LLOFixtures::expected_body('big'), "$name: client body byte-identical");
    my $warns2 = () = do { local (@ARGV, $/) = $ng->{error_log}; <> }
        =~ /\[warn\] .*an upstream response is buffered to a temporary file/g;
    is($warns2, $warns + 1, "$name: nginx used a temp file");
    my $w = drained_row($p, $id);
    is($w->{status}, 200, "$name: a row");
    is($w->{request_model}, 'gpt-4o-mini', "$name: request_model");
    is($w->{max_tokens}, 7, "$name: max_tokens");
    if (!$sf) {
        is($w->{parse_error}, undef, "$name: parse_error NULL");
        is($w->{total_tokens}, $f->{total_tokens}, "$name: total_tokens");
        is($w->{token_source}, 'provider', "$name: token_source 'provider'");
        ok(($w->{response_text} // '') eq $f->{text}, "$name: response_text is the whole text");
    } else {
        like($w->{parse_error} // '', qr/^response body went to a temp file at byte \d+ and was not read \(set proxy_max_temp_file_size 0, or sendfile off\)$/,
            "$name: parse_error says the body went to a temp file, and what to do");
        is($w->{total_tokens}, undef, "$name: no usage (it was in the file)");
        is($w->{token_source}, 'none', "$name: token_source 'none'");
        my $t = $w->{response_text} // '';
        ok(length($t) < length($f->{text}) && substr($f->{text}, 0, length $t) eq $t,
            "$name: response_text is the prefix that passed in memory");
    }
}

# a ring record dropped or torn would show here
($rc, $out) = ev($p, 'ring-stat');
is($rc, 0, 'ring-stat exits 0');
like($out, qr/^drops 0$/m, 'ring-stat: no drops');
like($out, qr/^torn 0$/m, 'ring-stat: nothing torn');
like($out, qr/^records_waiting 0$/m, 'ring-stat: ring drained');

nginx_stop($ng);
error_log_ok($ng);

done_testing;
