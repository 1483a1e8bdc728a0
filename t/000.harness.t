#!/usr/bin/perl

# Tests of the test harness itself (t/lib): fake upstream, fixtures,
# PostgreSQL and plain nginx helpers. Needs no llm-observer C code.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);

use LLOTest;
use LLOFixtures;

sub gunzip_bytes {
    my ($in) = @_;
    my $out;
    gunzip(\$in => \$out) or die "gunzip: $GunzipError";
    return $out;
}

ok(-d repo_root() . '/t/lib', 'repo_root points at the repository');

my $p = free_port();
ok($p > 0 && $p < 65536, "free_port returns a port ($p)");

my $tmp = tempdir_world();
ok(-d $tmp && ((stat $tmp)[2] & 0777) == 0777, 'tempdir_world is mode 0777');

my ($rc, $out) = run_cmd('sh', '-c', 'echo out; echo err >&2; exit 3');
is($rc, 3, 'run_cmd exit code');
like($out, qr/out/, 'run_cmd stdout');
like($out, qr/err/, 'run_cmd stderr');

# ------------------------------------------------------------ fake upstream

my $up = upstream_start();
ok($up->{port} && $up->{pid}, "upstream started on port $up->{port}");

my @names = LLOFixtures::scenario_names();

for my $name (@names) {
    my $s = LLOFixtures::scenario($name);
    my $f = $s->{facts};

    my $exp = http_req(port => $up->{port}, method => 'GET',
        path => "/__expected/$name");
    is($exp->{status}, 200, "$name: /__expected status");

    my $r = http_req(port => $up->{port}, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', $name ],
                     [ 'Content-Type', 'application/json' ] ],
        body => '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}');

    is($r->{status}, $s->{status}, "$name: status");
    is($r->{headers}{'x-upstream-scenario'}, $name, "$name: x-upstream-scenario");
    ok($r->{body} eq $exp->{body}, "$name: body equals /__expected")
        or diag("got " . length($r->{body}) . " bytes, expected "
            . length($exp->{body}));
    ok($r->{body} eq $s->{body}, "$name: body equals fixture");
    is($r->{complete}, $f->{complete}, "$name: complete flag");

    if ($s->{framing} =~ /chunked/) {
        is($r->{headers}{'transfer-encoding'}, 'chunked', "$name: chunked");
    } else {
        is($r->{headers}{'content-length'}, length $s->{body},
            "$name: content-length");
    }

    my $plain = $r->{body};
    if (($r->{headers}{'content-encoding'} // '') eq 'gzip') {
        $plain = gunzip_bytes($plain);
        ok($plain eq $s->{decoded_body}, "$name: gunzipped body");
    }

    if ($f->{stream}) {
        is(sse_text($plain), $f->{text}, "$name: SSE delta text equals fixture");
        my @ev = sse_events($plain);
        is(scalar @ev, $f->{events}, "$name: SSE event count");
        is($ev[-1] eq '[DONE]' ? 1 : 0, $f->{done}, "$name: [DONE]");
        my ($usage) = grep { $_ } map { $_ eq '[DONE]' ? undef : json_decode($_)->{usage} } @ev;
        is($usage ? $usage->{prompt_tokens} : undef, $f->{prompt_tokens},
            "$name: prompt_tokens");
        is($usage ? $usage->{completion_tokens} : undef, $f->{completion_tokens},
            "$name: completion_tokens");
        my ($fin) = grep { defined } map {
            $_ eq '[DONE]' ? undef : json_decode($_)->{choices}[0]{finish_reason}
        } @ev;
        is($fin, $f->{finish_reason}, "$name: finish_reason");
    } elsif (defined $f->{model}) {
        my $j = json_decode($plain);
        my $t = $j->{choices}[0]{message}{content};
        utf8::encode($t);
        ok($t eq $f->{text}, "$name: message content equals fixture");
        is($j->{model}, $f->{model}, "$name: model");
        is($j->{id}, $f->{response_id}, "$name: id");
        is($j->{usage}{prompt_tokens}, $f->{prompt_tokens}, "$name: prompt_tokens");
        is($j->{usage}{completion_tokens}, $f->{completion_tokens},
            "$name: completion_tokens");
        is($j->{usage}{total_tokens}, $f->{total_tokens}, "$name: total_tokens");
        is($j->{usage}{prompt_tokens_details}{cached_tokens}, $f->{cached_tokens},
            "$name: cached_tokens");
        is($j->{usage}{completion_tokens_details}{reasoning_tokens},
            $f->{reasoning_tokens}, "$name: reasoning_tokens");
        is($j->{choices}[0]{finish_reason}, $f->{finish_reason},
            "$name: finish_reason");
    } elsif (defined $f->{error_type}) {
        my $j = json_decode($plain);
        is($j->{error}{type}, $f->{error_type}, "$name: error type");
        is($j->{error}{code}, $f->{error_code}, "$name: error code");
        is($j->{error}{message}, $f->{error_message}, "$name: error message");
    } elsif ($f->{parse_error}) {
        ok(!eval { json_decode($plain); 1 }, "$name: body is invalid JSON");
    }
}

my $t0 = LLOFixtures::scenario('sse_usage')->{body};
like($t0, qr/\xf0\x9f\x99\x82/, 'fixture text contains non-ASCII (emoji)');

# error429 headers
{
    my $r = http_req(port => $up->{port}, headers => [ [ 'x-scenario', 'error429' ] ]);
    is($r->{headers}{'retry-after'}, '1', 'error429: retry-after');
    ok(defined $r->{headers}{'x-ratelimit-remaining-tokens'},
        'error429: x-ratelimit headers');
}

# echo: Content-Length and chunked request bodies arrive intact
{
    my $body = join '', map { chr($_ % 256) } 0 .. 300_000;
    my $r = http_req(port => $up->{port}, headers => [ [ 'x-scenario', 'echo' ] ],
        body => $body);
    is($r->{headers}{'x-body-len'}, length $body, 'echo: length (content-length)');
    is($r->{headers}{'x-body-sha256'}, sha256_hex($body), 'echo: sha256 (content-length)');

    $r = http_req(port => $up->{port}, headers => [ [ 'x-scenario', 'echo' ] ],
        body => $body, chunked => 1, chunk_size => 65000);
    is($r->{headers}{'x-body-len'}, length $body, 'echo: length (chunked)');
    is($r->{headers}{'x-body-sha256'}, sha256_hex($body), 'echo: sha256 (chunked)');
    ok($r->{body} eq LLOFixtures::expected_body('json'), 'echo: json body');
}

# HTTP/1.0 gets chunked scenarios close-delimited
{
    my $r = http_req(port => $up->{port}, http_version => '1.0',
        headers => [ [ 'x-scenario', 'sse_usage' ] ], body => '{}');
    ok(!defined $r->{headers}{'transfer-encoding'}, 'HTTP/1.0: no chunked');
    ok($r->{body} eq LLOFixtures::expected_body('sse_usage'), 'HTTP/1.0: body');
}

# keep-alive: two requests on one connection
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $up->{port},
        Proto => 'tcp', Timeout => 5) or die "connect: $!";
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-scenario: json\r\n"
        . "Content-Length: 2\r\n\r\n{}";
    print $s $req, $req;
    my $data = '';
    my $want = 2 * length(LLOFixtures::expected_body('json'));
    my $sel = IO::Select->new($s);
    my $deadline = time + 5;
    while (time < $deadline && $sel->can_read(1)) {
        my $n = sysread($s, $data, 65536, length $data) or last;
        my @bodies = $data =~ /\r\n\r\n(\{\n.*?\n\}\n)/sg;
        last if @bodies == 2;
    }
    close $s;
    my @st = $data =~ m{^HTTP/1\.1 200 OK}mg;
    is(scalar @st, 2, 'keep-alive: two responses on one connection');
}

# abort_after_bytes
{
    my $r = http_req(port => $up->{port}, headers => [ [ 'x-scenario', 'slow' ] ],
        abort_after_bytes => 300);
    ok($r->{aborted} && length($r->{raw}) == 300, 'abort_after_bytes');
}

# read_timeout
{
    my $r = http_req(port => $up->{port}, headers => [ [ 'x-scenario', 'slow' ] ],
        read_timeout => 0.3);
    ok($r->{timed_out} && !$r->{complete}, 'read_timeout gives partial response');
}

my @log = upstream_log($up);
ok(scalar(grep { $_->{scenario} eq 'echo' && $_->{len} == 300_001 } @log) == 2,
    'upstream log records body lengths');
is($log[-1]{headers}{'x-scenario'}, 'slow', 'upstream log records request headers');

# --------------------------------------------------------------- postgres

{
    my $pg = pg_start();
    like($pg->{conninfo}, qr/^host=127\.0\.0\.1 port=\d+ dbname=llo user=postgres$/,
        'pg conninfo');
    is(psql($pg, 'select 1'), '1', 'psql select 1');
    is(psql($pg, "select 'a', 2 union all select 'b', 3 order by 1"), "a|2\nb|3",
        'psql output format');
    ok(!eval { psql($pg, 'select nonsense_column'); 1 }, 'psql dies on SQL error');
    like($@, qr/nonsense_column/, 'psql error carries stderr');

    my $port = $pg->{port};
    pg_stop_only($pg);
    ok(!eval { psql($pg, 'select 1'); 1 }, 'psql fails while postgres is stopped');
    pg_start_again($pg);
    is($pg->{port}, $port, 'restarted on the same port');
    is(psql($pg, 'select 1'), '1', 'psql select 1 after restart');
    pg_stop($pg);
    ok(!eval { psql($pg, 'select 1'); 1 }, 'postgres stopped');
}

# -------------------------------------------------------------- plain nginx

{
    my $np = free_port();
    my $np2 = free_port();
    my $up_port = $up->{port};
    my $ng = nginx_start(module => 0, workers => 2, http => <<"EOF");
    upstream fake {
        server 127.0.0.1:$up_port;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:$np;
        location / {
            proxy_pass http://fake;
        }
        location /small/ {
            client_max_body_size 1k;
            proxy_pass http://fake;
        }
        location /v11/ {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://fake/;
        }
    }
EOF
    ok($ng->{pid}, "nginx started (pid $ng->{pid})");
    # the master forks its workers after it wrote its pid: wait for them
    ok(wait_for(sub { scalar(() = nginx_workers($ng)) == 2 }, timeout => 10),
        'two workers');

    for my $prefix ('', '/v11') {
        for my $name (qw(sse_usage json_chunked gzip_sse big)) {
            my $r = http_req(port => $np, path => "$prefix/v1/chat/completions",
                headers => [ [ 'x-scenario', $name ] ], body => '{"stream":true}');
            is($r->{status}, 200, "nginx$prefix $name: status");
            ok($r->{body} eq LLOFixtures::expected_body($name),
                "nginx$prefix $name: body byte-identical");
        }
    }

    # a large body that the server refuses early must not hang the client
    {
        my $r = http_req(port => $np, path => '/small/',
            body => 'y' x 5_000_000, read_timeout => 10);
        is($r->{status}, 413, 'early 413 for a large body does not hang http_req');
    }

    # chunked request body through nginx
    my $body = 'x' x 100_000;
    my $r = http_req(port => $np, path => '/v11/v1/chat/completions',
        headers => [ [ 'x-scenario', 'echo' ] ], body => $body, chunked => 1);
    is($r->{headers}{'x-body-sha256'}, sha256_hex($body),
        'nginx: chunked request body arrives intact');

    ok(nginx_reload($ng), 'nginx_reload: new workers');

    # reload with a changed configuration
    my $http2 = $ng->{opts}{http} . "    server { listen 127.0.0.1:$np2; return 200 reloaded; }\n";
    ok(nginx_reload($ng, http => $http2), 'nginx_reload with new http text');
    ok(wait_for(sub { (eval { http_req(port => $np2, method => 'GET')->{body} } // '') eq 'reloaded' },
        timeout => 5), 'new server block answers after reload');
    $r = http_req(port => $np, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'sse_crlf' ] ], body => '{}');
    ok($r->{body} eq LLOFixtures::expected_body('sse_crlf'),
        'nginx after reload: sse_crlf body');

    my ($trc, $tout) = nginx_test_conf(nginx_conf_text(module => 0,
        http => "server { listen 127.0.0.1:$np; no_such_directive on; }"));
    isnt($trc, 0, 'nginx -t fails on an unknown directive');
    like($tout, qr/unknown directive "no_such_directive"/, 'nginx -t message');

    ($trc, $tout) = nginx_test_conf(nginx_conf_text(module => 0,
        http => "server { listen 127.0.0.1:$np; }"));
    is($trc, 0, 'nginx -t accepts a good config') or diag($tout);

    ok(!eval { nginx_conf_text(module => '/nonexistent/x.so'); 1 }
        && $@ =~ /not built/, 'missing module is a clear error');

    my $master = $ng->{pid};
    nginx_stop($ng);
    ok(!-e "/proc/$master" || (`cat /proc/$master/stat 2>/dev/null` =~ /\) Z /),
        'nginx stopped');

    error_log_ok($ng, allow => [qr/client intended to send too large body/]);
}

upstream_stop($up);
ok(!defined $up->{pid}, 'upstream stopped');

done_testing;
