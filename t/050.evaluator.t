#!/usr/bin/perl

# llm-evaluator's promises, against real PostgreSQL and real nginx with
# the module in front of the fake upstream: configuration errors name
# file:line; migrate applies each migration once and the daemon refuses
# an unmigrated database; ring-stat tells what waits in the ring; the
# daemon stores every call once through a PostgreSQL outage (logged once),
# a re-delivered batch is stored once, SIGHUP keeps the old configuration
# when the new one is broken, SIGTERM finishes the batch and exits 0; the
# ring has one consumer; a record torn by a dead writer is skipped.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use LLOTest;
use LLOFixtures;
use LLOPipeline;

my $T0 = time;

my $p    = pipeline_start(migrate => 0);
my $pg   = $p->{pg};
my $dir  = $p->{dir};
my $ring = $p->{ring};
my $EV   = $p->{ev};
my $JSON = LLOFixtures::expected_body('json');

sub count_rows {
    my ($where) = @_;
    return psql($pg, 'SELECT count(*) FROM llm_requests'
        . (defined $where ? " WHERE $where" : ''));
}

sub id_list { join ',', map { "'$_'" } grep { $_ =~ $UUID } @_ }

# ----------------------------------------------------- configuration errors

# a file that fails at $line: -t exits 1 and stderr says file:line: what
sub conf_fails {
    my ($name, $text, $line, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $f = spew("$dir/bad-$name.conf", $text);
    my ($rc, $out, $err) = run_cmd_split($EV, '-c', $f, '-t');
    is($rc, 1, "config, $name: -t exits 1");
    like($err, qr/^llm-evaluator: \Q$f:$line: $what\E/m,
        "config, $name: stderr says $f:$line: $what");
    is($out, '', "config, $name: nothing on stdout");
    return $f;
}

conf_fails('unknown key', "# evaluator\nbatch_size = 10\n\nbogus_key = 1\n", 4,
    'unknown key "bogus_key"');
my $bad_batch = conf_fails('batch_size=0',
    "ring_path = /dev/shm/x.ring\nbatch_size=0\n", 2,
    'invalid value "0" for batch_size (expected 1..100000)');
conf_fails('flush_interval=abc', "\n\n# poll\nflush_interval = abc   # bad\n", 4,
    'invalid value "abc" for flush_interval (expected 1ms..1h');
conf_fails('missing =', "batch_size = 5\nring_path /dev/shm/x.ring\n", 2,
    'expected "key = value", got "ring_path /dev/shm/x.ring"');
conf_fails('duplicate key', "batch_size = 5\nlog_level = warn\nbatch_size = 6\n", 3,
    'duplicate key "batch_size" (already set on line 1)');
conf_fails('bad log_level', "log_level = loud\n", 1,
    'invalid value "loud" for log_level (expected error, warn, info or debug)');

{
    # not only -t: every command reads the configuration first
    my ($rc, $out, $err) = run_cmd_split($EV, '-c', $bad_batch, 'drain');
    is($rc, 1, 'config error, drain: exits 1');
    like($err, qr/\Q$bad_batch\E:2: invalid value "0" for batch_size/,
        'config error, drain: stderr names file:line');

    ($rc, $out, $err) = run_cmd_split($EV, '-c', "$dir/no-such.conf", '-t');
    is($rc, 1, 'missing config file: exits 1');
    like($err, qr/cannot open configuration file "\Q$dir\E\/no-such\.conf": No such file/,
        'missing config file: says which and why');
}

my $good = spew("$dir/good.conf", <<'EOF');
# llm-evaluator test configuration
ring_path = "/dev/shm/llo test #1.ring"   # quoted: a space and a '#'
pg_conninfo = host=127.0.0.1 dbname=x   # unquoted: to the '#'
batch_size = 10
flush_interval = 1s
torn_timeout = 500ms
   log_level=debug
partition_months_ahead = 0
EOF
{
    my ($rc, $out, $err) = run_cmd_split($EV, '-c', $good, '-t');
    is($rc, 0, 'good config: -t exits 0') or diag($err);
    like($err, qr/configuration file "\Q$good\E" test is successful/,
        'good config: -t says the test is successful');

    ($rc, $out, $err) = run_cmd_split($EV, '-c', $good, '-T');
    is($rc, 0, 'good config: -T exits 0');
    for my $l ('ring_path = "/dev/shm/llo test #1.ring"',
        'pg_conninfo = "host=127.0.0.1 dbname=x"', 'batch_size = 10',
        'flush_interval = 1000ms', 'torn_timeout = 500ms', 'log_level = debug',
        'partition_months_ahead = 0')
    {
        like($out, qr/^\Q$l\E$/m, "good config: -T prints '$l'");
    }

    ($rc, $out) = run_cmd_split($EV, '-c', $good, '-o', 'batch_size=20',
        '-o', 'flush_interval=2s', '-T');
    is($rc, 0, '-o over a good file: exits 0');
    like($out, qr/^batch_size = 20$/m, '-o batch_size=20 overrides the file');
    like($out, qr/^flush_interval = 2000ms$/m, '-o flush_interval=2s overrides the file');
    like($out, qr/^torn_timeout = 500ms$/m, '-o leaves the other keys of the file');
}

# -o errors name "-o:N", N counting the -o options from 1
for my $c (
    [ 'batch_size=0', [ 'batch_size=0' ], '-o:1: invalid value "0" for batch_size' ],
    [ 'unknown key', [ 'log_level=warn', 'bogus=1' ], '-o:2: unknown key "bogus"' ],
    [ 'no =', [ 'flush_interval' ], '-o:1: expected "key = value", got "flush_interval"' ],
    [ 'flush_interval=abc', [ 'batch_size=5', 'flush_interval=abc' ],
        '-o:2: invalid value "abc" for flush_interval' ],
    [ 'empty ring_path', [ 'ring_path=' ], '-o:1: invalid value "" for ring_path' ],
) {
    my ($name, $o, $what) = @$c;
    my ($rc, $out, $err) = run_cmd_split($EV, '-c', $good, (map { ('-o', $_) } @$o), '-t');
    is($rc, 1, "-o $name: exits 1");
    like($err, qr/^llm-evaluator: \Q$what\E/m, "-o $name: stderr says '$what'");
}

# --------------------------------------------------------------- migrations

{
    # every migration in sql/, in order
    opendir my $sd, repo_root() . '/sql' or die "sql/: $!";
    my @mig = sort map { /^(\d{3}_\w+)\.sql$/ ? $1 : () } readdir $sd;
    closedir $sd;
    my $n = @mig;
    my $list = join ', ', @mig;
    my $s = $n > 1 ? 's' : '';
    my $are = $n > 1 ? 's are' : ' is';

    # the ring does not exist yet either: the daemon retries that, but an
    # unmigrated database is not worth retrying
    my $t = time;
    my ($rc, $out) = ev($p, '-o', 'log_file=stderr', 'run');
    my $took = time - $t;
    is($rc, 1, 'run against a database without migrations: exits 1');
    like($out, qr/\[error\] \d+: $n database migration$are pending \(\Q$list\E\): run "llm-evaluator -c \Q$p->{evconf}\E migrate" first/,
        'run without migrations: says which is pending and what to run');
    ok($took < 5, sprintf('run without migrations: refuses at once (%.1f s)', $took));
    is(psql($pg, "SELECT count(*) FROM pg_tables WHERE tablename IN ('llm_requests', 'llm_schema_migrations')"),
        0, 'run without migrations: created no table');

    ($rc, $out) = ev($p, 'migrate');
    is($rc, 0, 'migrate (1st): exits 0') or diag($out);
    is($out, join('', map { "applied $_\n" } @mig) . "$n migration$s applied\n",
        "migrate (1st): applies $list");

    ($rc, $out) = ev($p, 'migrate');
    is($rc, 0, 'migrate (2nd): exits 0') or diag($out);
    is($out, "no pending migrations\n", 'migrate (2nd): applies nothing');

    ok($n >= 2, "sql/ holds the migrations ($list)");
    is(psql($pg, 'SELECT count(*) FROM llm_schema_migrations'), $n,
        "llm_schema_migrations has $n rows");
    is(psql($pg, 'SELECT string_agg(version, \',\' ORDER BY version) FROM llm_schema_migrations'),
        join(',', @mig), "llm_schema_migrations: versions $list");
    is(psql($pg, "SELECT relkind FROM pg_class WHERE relname = 'llm_requests'"), 'p',
        'llm_requests exists, partitioned');
}

# -------------------------------------------------------- nginx, ring-stat

{
    my ($rc, $out, $err) = run_cmd_split(ev_argv($p, 'ring-stat'));
    is($rc, 1, 'ring-stat before nginx made the ring: exits 1');
    like($err, qr/open\("\Q$ring\E"\) failed: No such file or directory/,
        'ring-stat before nginx made the ring: says why');
}

my $upp = $p->{up}{port};
my $port = free_port();
my $NGINX_HTTP = <<"EOF";
    llm_observer_ring $ring size=4m;
    server {
        listen 127.0.0.1:%PORT%;
        llm_observer on;
        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF
(my $http = $NGINX_HTTP) =~ s/%PORT%/$port/;
my $ng = nginx_start(dir => $dir, http => $http);

my %seen;    # every $llm_request_id a client got

# $n calls through nginx (the json scenario); asserts every client got the
# exact response; returns the X-LLM-Id values
sub calls {
    my ($n, $tag, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($good, @ids) = (0);
    for my $i (1 .. $n) {
        my $r = http_req(port => $o{port} // $port, path => '/v1/chat/completions',
            headers => [ [ 'x-scenario', 'json' ], [ 'Content-Type', 'application/json' ] ],
            body => qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":"$tag $i"}]}));
        $good++ if ($r->{status} // 0) == 200 && $r->{complete} && $r->{body} eq $JSON;
        my $id = $r->{headers}{'x-llm-id'} // 'none';
        push @ids, $id;
        $seen{$id} = 1;
    }
    is($good, $n, "$tag: all $n clients got status 200 and the exact body");
    is(scalar(grep { $_ =~ $UUID } @ids), $n, "$tag: $n X-LLM-Id values");
    return @ids;
}

# ring-stat once the records of $n more calls are in the ring (nginx
# appends a record when it finishes the request)
sub stat_after {
    my ($committed) = @_;
    my %st;
    wait_for(sub { %st = ring_stat($p); $st{committed} >= $committed },
        timeout => 10, interval => 0.05);
    return %st;
}

my %st0 = ring_stat($p);
for my $k (qw(capacity used_bytes records_waiting drops torn committed rpos wpos instance)) {
    ok(exists $st0{$k}, "ring-stat prints $k");
}
is($st0{capacity}, 4 * 1024 * 1024, 'ring-stat: capacity 4m');
is($st0{used_bytes}, 0, 'ring-stat, new ring: used_bytes 0');
is($st0{records_waiting}, 0, 'ring-stat, new ring: records_waiting 0');
is($st0{committed}, 0, 'ring-stat, new ring: committed 0');
is("$st0{rpos} $st0{wpos}", '0 0', 'ring-stat, new ring: rpos 0, wpos 0');
is("$st0{drops} $st0{torn}", '0 0', 'ring-stat, new ring: no drops, nothing torn');
like($st0{instance}, qr/^[0-9a-f]{16}$/, 'ring-stat: instance is 16 hex digits');
my $INST = $st0{instance};
(my $inst_uuid = $INST) =~ s/^(.{8})(.{4})(.{4})$/$1-$2-$3/;

# ------------------------------------------ traffic, drain, re-delivery

my @first = calls(5, 'first');
ok(!grep({ !/^\Q$inst_uuid\E-/ } @first), 'the ids start with the ring instance');
my %st = stat_after(5);
is($st{records_waiting}, 5, 'ring-stat after 5 calls: records_waiting 5');
is($st{committed}, 5, 'ring-stat after 5 calls: committed 5');
is($st{rpos}, 0, 'ring-stat after 5 calls: rpos still 0');
ok($st{wpos} > 0, "ring-stat after 5 calls: wpos moved ($st{wpos})");
is($st{used_bytes}, $st{wpos} - $st{rpos}, 'ring-stat: used_bytes = wpos - rpos');
is($st{busy}, 0, 'ring-stat: no record being written');
is($st{instance}, $INST, 'ring-stat: same instance');

# the ring as it was before the drain: to deliver the batch a second time
my $copy = slurp($ring);
is(length $copy, 4096 + 4 * 1024 * 1024, 'ring copied while 5 records wait');

my ($rc, $out) = ev($p, 'drain');
is($rc, 0, 'drain exits 0') or diag($out);
like($out, qr/^records 5\ninserted 5\nduplicates 0\nbad 0\n/m, 'drain: 5 records, 5 inserted, 0 duplicates');
my %st2 = ring_stat($p);
is($st2{records_waiting}, 0, 'ring-stat after drain: records_waiting 0');
is($st2{rpos}, $st2{wpos}, 'ring-stat after drain: rpos == wpos');
is($st2{wpos}, $st{wpos}, 'ring-stat after drain: wpos unchanged');
is($st2{used_bytes}, 0, 'ring-stat after drain: used_bytes 0');
is(count_rows('id IN (' . id_list(@first) . ')'), 5, 'drain: the 5 rows are there');

# a consumer that died after COMMIT, before it moved rpos: the same batch
# again (nginx is idle, so the copy is the ring as it would be)
{
    open my $fh, '+<:raw', $ring or die "$ring: $!";
    print $fh $copy;
    close $fh or die "$ring: $!";
}
%st = ring_stat($p);
is("$st{records_waiting} $st{rpos}", '5 0', 'ring restored: 5 records wait again at rpos 0');
($rc, $out) = ev($p, 'drain');
is($rc, 0, 're-delivery: drain exits 0') or diag($out);
like($out, qr/^records 5\ninserted 0\nduplicates 5\n/m,
    're-delivery: drain reports 5 duplicates, 0 inserted');
is(count_rows(), 5, 're-delivery: still 5 rows');
is(psql($pg, 'SELECT count(DISTINCT id) FROM llm_requests'), 5, 're-delivery: 5 distinct ids');
%st = ring_stat($p);
is($st{records_waiting}, 0, 're-delivery: ring drained');

# ------------------------------------------------------------------ daemon

my $dconf = spew("$dir/daemon.conf", "# rewritten for the SIGHUP tests\nflush_interval = 50ms\n");
my $d = { %$p, evconf => $dconf, evlog => "$dir/daemon.log" };
my $dlog = $d->{evlog};

sub dlog_since {
    my ($off) = @_;
    my $l = slurp($dlog);
    return substr($l, $off // 0);
}

my $dpid = ev_spawn($d, 'run');
ok(wait_for(sub { slurp($dlog) =~ /consuming ring "\Q$ring\E": instance $INST, 4194304 bytes, 0 records waiting/ },
    timeout => 10), 'daemon: consuming the ring (log)');

my @second = calls(5, 'daemon');
ok(wait_for(sub { count_rows() == 10 }, timeout => 10, interval => 0.1),
    'daemon: the rows of 5 calls appear');
is(count_rows('id IN (' . id_list(@second) . ')'), 5, 'daemon: with the ids the clients got');

{
    my ($rc, $out) = ev($p, '-o', 'log_file=stderr', 'drain');
    is($rc, 1, 'a second consumer (drain) is refused: exits 1');
    like($out, qr/ring "\Q$ring\E" already has a consumer \(pid $dpid\)/,
        'a second consumer: "already has a consumer" with the pid');
    ok(kill(0, $dpid), 'the first consumer runs on');
}

# ----------------------------------------------------- PostgreSQL outage

my $off = length slurp($dlog);
pg_stop_only($pg);
my $t_out = time;
my @outage = calls(30, 'outage');
%st = ();
ok(wait_for(sub { %st = ring_stat($p); $st{records_waiting} >= 30 }, timeout => 10),
    "outage: the records wait in the ring (records_waiting $st{records_waiting})");
# let the daemon retry a few times (100 ms, 200 ms, 400 ms, ...)
sleep 2;
my $outlog = dlog_since($off);
my @err = grep { /\[error\]/ } split /\n/, $outlog;
is(scalar @err, 1, 'outage: the log says the database is away once')
    or diag("log since the outage:\n$outlog");
like($err[0] // '', qr/PostgreSQL/, 'outage: the line names PostgreSQL');
like($err[0] // '', qr/records stay in the ring until PostgreSQL takes them, retrying/,
    'outage: the line says the records wait in the ring');
ok(kill(0, $dpid), 'outage: the daemon runs on');

pg_start_again($pg);
my $t_back = time;
my $nrows = 40;
ok(wait_for(sub { count_rows() >= $nrows }, timeout => 20, interval => 0.2),
    sprintf('outage over: all rows arrive (%.1f s down, %.1f s to catch up)',
        $t_back - $t_out, time - $t_back));
is(count_rows(), $nrows, "outage over: exactly $nrows rows");
is(psql($pg, 'SELECT count(DISTINCT id) FROM llm_requests'), $nrows,
    'outage over: no duplicate ids');
is(count_rows('id IN (' . id_list(@outage) . ')'), 30, 'outage over: the rows of the 30 calls');
$outlog = dlog_since($off);
like($outlog, qr/reconnected to PostgreSQL after \d+ s, (\d+) records waiting/,
    'outage over: the log says it reconnected');
my ($waited) = $outlog =~ /reconnected to PostgreSQL after \d+ s, (\d+) records waiting/;
ok(($waited // 0) >= 30, 'outage over: with ' . ($waited // '?') . ' records waiting');
like($outlog, qr/writing to PostgreSQL again after \d+ s/,
    'outage over: the log says it writes again');
is(scalar(grep { /\[error\]/ } split /\n/, $outlog), 1, 'outage over: still one error line');

# ------------------------------------------------------------------ SIGHUP

$off = length slurp($dlog);
spew($dconf, "flush_interval = 50ms\nbatch_size = 0\n");
kill 'HUP', $dpid;
ok(wait_for(sub { dlog_since($off) =~ /reload failed, keeping the old configuration: \Q$dconf\E:2: invalid value "0" for batch_size/ },
    timeout => 5), 'SIGHUP, broken file: the log says why, and that the old config stays');
ok(kill(0, $dpid), 'SIGHUP, broken file: the daemon runs on');
my @hup = calls(2, 'after a failed reload');
ok(wait_for(sub { count_rows() == $nrows + 2 }, timeout => 10, interval => 0.1),
    'SIGHUP, broken file: the daemon still stores rows');
$nrows += 2;
unlike(dlog_since($off), qr/configuration reloaded/, 'SIGHUP, broken file: not "reloaded"');

# fixed; a long flush_interval keeps what comes next waiting in the ring
$off = length slurp($dlog);
spew($dconf, "flush_interval = 5s\nbatch_size = 500\n");
kill 'HUP', $dpid;
ok(wait_for(sub { dlog_since($off) =~ /configuration reloaded/ }, timeout => 5),
    'SIGHUP, fixed file: the log says reloaded');
unlike(dlog_since($off), qr/\[error\]/, 'SIGHUP, fixed file: no error');

# ----------------------------------------------------------------- SIGTERM

%st = ring_stat($p);
my @term = calls(10, 'before SIGTERM');
%st = stat_after($st{committed} + 10);
my $waiting = $st{records_waiting};
diag("SIGTERM with $waiting records waiting");
my $t_term = time;
kill 'TERM', $dpid;
my $code = ev_reap($dpid, timeout => 10);
my $took = time - $t_term;
ok(defined $code, sprintf('SIGTERM: the daemon exits (%.2f s)', $took));
is($code // -1, 0, 'SIGTERM: exit code 0');
ok($took < 3, 'SIGTERM: promptly (< 3 s, flush_interval is 5 s)');
is(count_rows('id IN (' . id_list(@term) . ')'), 10,
    "SIGTERM: it finished the batch first: rows for the $waiting records waiting are there");
like(slurp($dlog), qr/exiting: \d+ records taken from the ring, \d+ rows inserted, \d+ duplicates/,
    'SIGTERM: the log says what it did');
%st = ring_stat($p);
is($st{records_waiting}, 0, 'SIGTERM: nothing left waiting in the ring');

# whatever the daemon left, drain it: the torn record comes after
($rc, $out) = ev($p, 'drain');
is($rc, 0, 'drain after the daemon') or diag($out);
$nrows += 10;
is(count_rows(), $nrows, "$nrows rows, one per call");

# ----------------------------------------------------------- torn record

# a writer killed between reserving its record and committing it: a BUSY
# header at wpos, then wpos moved past it; written with nginx stopped so
# nothing races with us
nginx_stop($ng);
{
    open my $fh, '+<:raw', $ring or die "$ring: $!";
    sysread($fh, my $hdr, 4096) == 4096 or die "read $ring: $!";
    my $cap  = unpack 'Q<', substr($hdr, 16, 8);
    my $wpos = unpack 'Q<', substr($hdr, 64, 8);
    my $seq  = unpack 'Q<', substr($hdr, 72, 8);
    my $rpos = unpack 'Q<', substr($hdr, 128, 8);
    is($cap, 4 * 1024 * 1024, 'torn: header capacity at offset 16');
    is($rpos, $wpos, 'torn: the ring is drained (rpos == wpos) before the torn record');
    my $len = 16 + 20;                          # header + a payload cut short
    my $size = ($len + 7) & ~7;
    ok($cap - $wpos % $cap >= $size, 'torn: the record fits before the end of the data');
    my $rec = pack('VVQ<', $len, 0x59535542, $seq + 1) . ('x' x 12);
    sysseek($fh, 4096 + $wpos % $cap, 0) or die "seek: $!";
    syswrite($fh, $rec) == length $rec or die "write: $!";
    sysseek($fh, 64, 0) or die "seek: $!";
    syswrite($fh, pack('Q<Q<', $wpos + $size, $seq + 1)) == 16 or die "write: $!";
    close $fh;
}
my $dir2 = tempdir_world();
my $port2 = free_port();
(my $http2 = $NGINX_HTTP) =~ s/%PORT%/$port2/;
my $ng2 = nginx_start(dir => $dir2, http => $http2);
%st = ring_stat($p);
is($st{instance}, $INST, 'torn: nginx restarted on the same ring');
is("$st{busy} $st{records_waiting}", '1 0', 'torn: ring-stat shows a record being written, none ready');

my $c0 = $st{committed};
my @after = calls(3, 'after the torn record', port => $port2);
%st = stat_after($c0 + 3);
is($st{busy}, 1, 'torn: the 3 new records wait behind it');

my $t = time;
($rc, $out) = ev($p, '-o', 'torn_timeout=200ms', 'drain');
my $dt = time - $t;
is($rc, 0, 'torn: drain -o torn_timeout=200ms exits 0') or diag($out);
like($out, qr/^records 3\ninserted 3\n/m, 'torn: drain delivers the 3 later records');
ok($dt >= 0.2, sprintf('torn: drain waited for torn_timeout (%.2f s)', $dt));
is(count_rows('id IN (' . id_list(@after) . ')'), 3, 'torn: their rows are there');
%st = ring_stat($p);
is($st{torn}, 1, 'torn: ring-stat torn 1');
is($st{torn_bytes}, 40, 'torn: ring-stat torn_bytes 40');
is("$st{records_waiting} $st{busy}", '0 0', 'torn: nothing waits');
is($st{rpos}, $st{wpos}, 'torn: rpos == wpos');
$nrows += 3;

# ------------------------------------- a row PostgreSQL rejects (bisection)

# a constraint only this test has makes one row of a batch a data error
# (SQLSTATE 23514): the evaluator must find it, keep the other rows, and
# still release the whole batch
psql($pg, "ALTER TABLE llm_requests ADD CONSTRAINT t050_reject "
    . "CHECK (prompt_text NOT LIKE 'reject %')");
%st = ring_stat($p);
my $c1 = $st{committed};
my @keep = (calls(2, 'keep-a', port => $port2), calls(1, 'reject', port => $port2),
    calls(2, 'keep-b', port => $port2));
my ($rejected_id) = splice @keep, 2, 1;
delete $seen{$rejected_id};
stat_after($c1 + 5);
my $log_before = length(slurp($p->{evlog}) // '');
($rc, $out) = ev($p, 'drain');
is($rc, 0, 'a rejected row: drain exits 0') or diag($out);
like($out, qr/^records 5\ninserted 4\nduplicates 0\nbad 1\n/m,
    'a rejected row: 4 inserted, 1 bad');
is(count_rows('id IN (' . id_list(@keep) . ')'), 4, 'a rejected row: the other 4 rows are there');
is(count_rows("id = '$rejected_id'"), 0, 'a rejected row: not stored');
like(substr(slurp($p->{evlog}) // '', $log_before),
    qr/record seq \d+ rejected by PostgreSQL: .*t050_reject/,
    'a rejected row: the log names its seq and the constraint');
%st = ring_stat($p);
is($st{records_waiting}, 0, 'a rejected row: the batch is released all the same');
psql($pg, 'ALTER TABLE llm_requests DROP CONSTRAINT t050_reject');
$nrows += 4;

# ---------------------------------------------------------------- the end

is(count_rows(), scalar(keys %seen), 'one row per call in the whole test');
is(psql($pg, 'SELECT count(DISTINCT id) FROM llm_requests'), scalar(keys %seen),
    'no id twice in the whole test');
is_deeply([ split /\n/, psql($pg, 'SELECT id FROM llm_requests ORDER BY id') ],
    [ sort keys %seen ], 'the row ids are the ids the clients got');

nginx_stop($ng2);
error_log_ok($ng);
error_log_ok($ng2);

diag(sprintf('050.evaluator: %.1f s', time - $T0));

done_testing;
