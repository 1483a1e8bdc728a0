#!/usr/bin/perl

# Several nginx workers writing one ring at once: with the evaluator daemon
# draining meanwhile, every call is one row (no loss, no duplicate, no
# drop).  A ring too small for the load drops records and counts them, the
# clients never notice, and the "ring is full" warning is rate-limited to
# once a minute per worker.

use strict;
use warnings;

use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);

use LLOTest;
use LLOFixtures;
use LLOPipeline;

my $WORKERS = 4;

my $p   = pipeline_start(ev_opts => ['flush_interval=50ms']);
my $up  = $p->{up};
my $pg  = $p->{pg};
my $dir = $p->{dir};

my %EXPECT = map { $_ => LLOFixtures::expected_body($_) } qw(json sse_usage);

# $clients processes x $n calls each to $port; returns a list of
# { id, scenario, ok } in no particular order
sub load {
    my ($port, $clients, $n, $tag) = @_;
    my @pids;
    for my $c (1 .. $clients) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            my $out = '';
            for my $i (1 .. $n) {
                my $scen = ($i + $c) % 2 ? 'json' : 'sse_usage';
                my $stream = $scen eq 'json' ? 'false' : 'true';
                my $r = eval {
                    http_req(port => $port, path => '/v1/chat/completions',
                        headers => [ [ 'x-scenario', $scen ] ],
                        body => qq({"model":"gpt-4o-mini","stream":$stream,)
                            . qq("messages":[{"role":"user","content":"client $c call $i"}]}));
                } // {};
                my $ok = ($r->{status} // 0) == 200 && $r->{complete}
                    && $r->{body} eq $EXPECT{$scen} ? 1 : 0;
                $out .= join("\t", $r->{headers}{'x-llm-id'} // 'none', $scen, $ok) . "\n";
            }
            open my $fh, '>', "$dir/$tag-client-$c.txt" or POSIX::_exit(1);
            print $fh $out;
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for my $pid (@pids) {
        waitpid($pid, 0);
        $failed++ if $?;
    }
    is($failed, 0, "$tag: all $clients client processes finished");
    my @res;
    for my $c (1 .. $clients) {
        open my $fh, '<', "$dir/$tag-client-$c.txt" or next;
        while (<$fh>) {
            chomp;
            my ($id, $scen, $ok) = split /\t/;
            push @res, { id => $id, scenario => $scen, ok => $ok };
        }
    }
    return @res;
}

my $upp = $up->{port};

# -------------------------------------- 4 workers, 8 clients, daemon draining

{
    my $ring = $p->{ring};
    my $port = free_port();
    my $ng = nginx_start(dir => $dir, workers => $WORKERS, http => <<"EOF");
    llm_observer_ring $ring size=8m;
    upstream fake {
        server 127.0.0.1:$upp;
        keepalive 16;
    }
    log_format pids '\$llm_request_id \$pid';
    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        access_log $dir/pids.log pids;
        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://fake;
        }
    }
EOF
    ok(wait_for(sub { (() = nginx_workers($ng)) == $WORKERS }, timeout => 5),
        "$WORKERS workers running");

    # the daemon, draining while the workers write
    my $evpid = ev_spawn($p, 'run');

    my $t0 = time;
    my @res = load($port, 8, 50, 'load');
    diag(sprintf('400 calls in %.1f s', time - $t0));

    is(scalar @res, 400, '400 calls made');
    is(scalar(grep { $_->{ok} } @res), 400, 'every client got status 200 and the exact body');
    my %ids = map { $_->{id} => 1 } grep { $_->{id} =~ $UUID } @res;
    is(scalar keys %ids, 400, '400 distinct $llm_request_id values');

    ok(wait_for(sub { psql($pg, 'SELECT count(*) FROM llm_requests') >= 400 },
        timeout => 20, interval => 0.2), 'the daemon stores 400 rows');
    kill 'TERM', $evpid;
    my $code = ev_reap($evpid, timeout => 10);
    ok(defined $code, 'the daemon exits on SIGTERM');
    is($code // -1, 0, 'the daemon exits 0');

    is(psql($pg, 'SELECT count(*) FROM llm_requests'), 400, 'exactly 400 rows');
    is(psql($pg, 'SELECT count(DISTINCT id) FROM llm_requests'), 400, '400 distinct ids');
    my @db = split /\n/, psql($pg, 'SELECT id FROM llm_requests ORDER BY id');
    is_deeply(\@db, [ sort keys %ids ], 'the row ids are the ids the clients saw');

    my $json = grep { $_->{scenario} eq 'json' } @res;
    my $f = LLOFixtures::expected_facts('json');
    is(psql($pg, "SELECT count(*) FROM llm_requests WHERE stream = false"
        . " AND response_id = '$f->{response_id}' AND total_tokens = $f->{total_tokens}"
        . " AND finish_reason = 'stop' AND parse_error IS NULL"), $json,
        "$json json rows with the json facts");
    $f = LLOFixtures::expected_facts('sse_usage');
    is(psql($pg, "SELECT count(*) FROM llm_requests WHERE stream = true"
        . " AND response_id = '$f->{response_id}' AND total_tokens = $f->{total_tokens}"
        . " AND NOT incomplete AND parse_error IS NULL"), 400 - $json,
        (400 - $json) . ' sse_usage rows with the sse_usage facts');
    is(psql($pg, "SELECT count(DISTINCT prompt_text) FROM llm_requests"), 400,
        'each row has its own prompt');

    my %st = ring_stat($p);
    is($st{drops}, 0, 'ring-stat: 0 drops');
    is($st{torn}, 0, 'ring-stat: 0 torn');
    is($st{committed}, 400, 'ring-stat: 400 committed');
    is($st{records_waiting}, 0, 'ring-stat: nothing waiting');

    open my $fh, '<', "$dir/pids.log" or die "$dir/pids.log: $!";
    my %pids = map { (split ' ')[1] => 1 } <$fh>;
    close $fh;
    ok(keys(%pids) > 1, 'the calls were spread over ' . keys(%pids) . ' workers');

    nginx_stop($ng);
    error_log_ok($ng);
    unlike(do { local (@ARGV, $/) = $ng->{error_log}; <> }, qr/is full/,
        'no "ring is full" warning');
}

# ------------------------------------------------ 64k ring, no evaluator

{
    my $d = tempdir_world();
    my $tiny = { %$p, ring => "$d/tiny.ring" };
    my $ring = $tiny->{ring};
    my $port = free_port();
    my $ng = nginx_start(dir => $d, workers => $WORKERS, http => <<"EOF");
    llm_observer_ring $ring size=64k;
    upstream fake {
        server 127.0.0.1:$upp;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://fake;
        }
    }
EOF
    my @res = load($port, 8, 40, 'tiny');
    is(scalar @res, 320, 'tiny ring: 320 calls made');
    is(scalar(grep { $_->{ok} } @res), 320,
        'tiny ring: every client got status 200 and the exact body (a full ring never shows)');

    # the last records are appended as nginx finishes the last requests
    my %st;
    wait_for(sub { %st = ring_stat($tiny); $st{drops} + $st{committed} >= 320 },
        timeout => 10, interval => 0.2);
    ok($st{drops} > 0, "tiny ring: ring-stat shows drops ($st{drops})");
    is($st{drops} + $st{committed}, 320, 'tiny ring: drops + committed = calls');
    is($st{seq}, 320, 'tiny ring: one sequence number per call');

    my $log = do { local (@ARGV, $/) = $ng->{error_log}; <> };
    my @warn = $log =~ /^(.*\[warn\] (\d+)#\d+: .*llm_observer: ring "\Q$ring\E" is full.*)$/mg;
    my %per_pid;
    my $n = 0;
    while (@warn) {
        my ($line, $pid) = splice @warn, 0, 2;
        $per_pid{$pid}++;
        $n++;
    }
    ok($n >= 1, "tiny ring: a warning about the full ring in error.log ($n)");
    ok($n <= $WORKERS, "tiny ring: at most one warning per worker ($n <= $WORKERS)");
    is(scalar(grep { $_ > 1 } values %per_pid), 0, 'tiny ring: no worker warned twice');
    like($log, qr/is full, record of \d+ bytes dropped \(\d+ dropped so far\); is the evaluator running\?/,
        'tiny ring: the warning says what happened and what to check');

    # what was kept is intact
    my ($rc, $out) = ev($tiny, 'drain');
    is($rc, 0, 'tiny ring: drain') or diag($out);
    my $inst = $st{instance};
    $inst =~ s/^(.{8})(.{4})(.{4})$/$1-$2-$3/;
    is(psql($pg, "SELECT count(*) FROM llm_requests WHERE id::text LIKE '$inst-%'"),
        $st{committed}, 'tiny ring: every committed record became a row');

    nginx_stop($ng);
    error_log_ok($ng);
}

done_testing;
