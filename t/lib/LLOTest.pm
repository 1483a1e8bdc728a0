package LLOTest;

# Test harness for llm-observer (nginx-tests-like, core Perl only).
#
#   use Test::More;
#   use LLOTest;
#
#   my $up = upstream_start();
#   my $port = free_port();
#   my $ng = nginx_start(http => "server { listen 127.0.0.1:$port; ... }",
#                        ports => [$port]);
#   my $r = http_req(port => $port, path => '/v1/chat/completions',
#                    headers => [['x-scenario', 'sse_usage']], body => '{}');
#   ...
#   error_log_ok($ng);
#   done_testing;
#
# Everything started (nginx, postgres, upstream) is stopped in an END block,
# also when the test dies or gets INT/TERM/HUP. Set LLO_KEEP=1 to keep the
# temp dirs (their paths are printed with diag).
#
# API (all exported by default):
#   repo_root()                      absolute repository path
#   free_port()                      a free TCP port on 127.0.0.1
#   tempdir_world(%o)                temp dir, mode 0777 (cleaned up at exit)
#   wait_for(sub {...}, timeout => 10, interval => 0.05)
#                                    sub's true value, or undef on timeout
#   run_cmd(@argv)                   (exit code, stdout+stderr); 60 s limit
#   run_cmd_split(@argv)             (exit code, stdout, stderr); 60 s limit
#
#   nginx_module_path()              <repo>/build/ngx_http_llm_observer_module.so
#   nginx_conf_text(%o)              full nginx.conf text; options:
#       http => TEXT, main => TEXT, workers => N (1), module => 1 (or path),
#       dir => DIR (default: new tempdir_world)
#   nginx_start(%o)                  same options + ports => [..] (default:
#       the "listen [127.0.0.1:]N" ports of the http text); returns
#       { dir, conf, pid, pid_file, error_log, access_log, ports }
#   nginx_test_conf($text, dir => DIR)  runs nginx -t: (exit code, output)
#   nginx_reload($ng, timeout => 2)  HUP; 1 if a new worker appeared
#   nginx_reload($ng, http => TEXT)  same, after rewriting nginx.conf with the
#                                    given nginx_conf_text options changed
#   nginx_workers($ng)               worker pids
#   nginx_stop($ng)                  QUIT, then TERM, then KILL (bounded)
#   error_log_ok($ng, allow => [qr/../, 'substring', ...])
#                                    test: no [alert]/[error]/[crit]/[emerg]
#
#   pg_start(%o)                     throwaway PostgreSQL 15 with database llo;
#       returns { port, dir, data, log, conninfo, dbname, running }
#   pg_stop($pg)                     stop (fast) and forget
#   pg_stop_only($pg), pg_start_again($pg)   take it away / back, same port
#   psql($pg, $sql, dbname => .., timeout => ..)
#                                    output of psql -X -q -A -t -F '|'
#                                    (chomped); dies with stderr on error
#
#   upstream_start(%o)               t/lib/upstream.pl on a free port;
#       options port, log, dir; returns { port, pid, log, stderr, dir }
#   upstream_stop($u)
#   upstream_log($u)                 list of { method, path, sha256, len,
#                                    scenario, version, headers => {lc => v} }
#                                    per request, in arrival order
#
#   judge_start(%o)                  t/lib/judge.pl (the fake LLM judge) on a
#       free port; options port, log, dir, key; returns as upstream_start
#   judge_stop($j)
#   judge_log($j)                    its --log lines, decoded (see judge.pl)
#
#   http_req(%o)                     raw HTTP client; options: port, host,
#       method (POST), path (/), headers => [[name, value], ..], body,
#       chunked => 1, chunk_size, chunk_delay (0.005), http_version ('1.1'),
#       read_timeout (10), write_timeout, abort_after_bytes => N;
#       returns { status, reason, http_version, headers => {lc name => value},
#       header_list => [[name, value], ..], raw, body (de-chunked),
#       complete, timed_out, aborted }
#
#   sse_events($body)                list of SSE "data" payloads
#   sse_text($body)                  concatenated delta content (UTF-8 bytes)
#   json_decode($bytes)              JSON::PP decode (utf8, allow_nonref)
#
# Scenario bodies and the facts to expect: t/lib/LLOFixtures.pm.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More ();
use Time::HiRes ();

our @EXPORT = qw(
    repo_root free_port tempdir_world
    nginx_module_path nginx_conf_text nginx_start nginx_test_conf
    nginx_reload nginx_stop nginx_workers error_log_ok
    pg_start pg_stop pg_stop_only pg_start_again psql
    upstream_start upstream_stop upstream_log
    judge_start judge_stop judge_log
    http_req wait_for run_cmd run_cmd_split
    sse_events sse_text json_decode spew slurp spawn
);

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $OWNER = $$;    # only this process cleans up in END (not forked children)

our @NGINX;        # started nginx instances
our @PG;           # started postgres instances
our @UPSTREAM;     # started upstream.pl and judge.pl instances

our $PG_BIN = $ENV{PG_BIN} // '/usr/lib/postgresql/15/bin';

# make INT/TERM/HUP run END blocks (so servers get stopped)
for my $sig (qw(INT TERM HUP)) {
    my $cur = $SIG{$sig};
    next if defined $cur && $cur ne '' && $cur ne 'DEFAULT';
    $SIG{$sig} = sub {
        # the TAP reader may be gone already: never die of SIGPIPE here
        $SIG{PIPE} = 'IGNORE';
        print STDERR "# LLOTest: caught SIG$_[0], cleaning up\n";
        _cleanup();
        exit 1;
    };
}

sub _now { Time::HiRes::time() }

sub _sleep { Time::HiRes::sleep($_[0]) }

sub _diag { Test::More->builder->diag(@_) }

sub _slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return undef;
    local $/;
    my $d = <$fh>;
    return $d // '';
}

sub _spew {
    my ($f, $data) = @_;
    open my $fh, '>:raw', $f or die "LLOTest: cannot write $f: $!\n";
    print $fh $data;
    close $fh or die "LLOTest: cannot write $f: $!\n";
}

# for tests: write a file (returns its path); read one ('' when missing)
sub spew { my ($f, $data) = @_; _spew($f, $data); return $f }

sub slurp { return _slurp($_[0]) // '' }

sub _tail {
    my ($f, $n) = @_;
    my $d = _slurp($f);
    return "(cannot read $f)" unless defined $d;
    my @l = split /\n/, $d;
    @l = @l[-$n .. -1] if @l > $n;
    return join("\n", @l);
}

# ------------------------------------------------------------------ basics

sub repo_root { return $ROOT }

sub free_port {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 1,
    ) or die "LLOTest: free_port: cannot bind 127.0.0.1:0: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub tempdir_world {
    my (%o) = @_;
    my $keep = $ENV{LLO_KEEP};
    my $dir = File::Temp::tempdir(($o{template} // 'llo-XXXXXX'),
        TMPDIR => 1, CLEANUP => !$keep);
    chmod 0777, $dir or die "LLOTest: chmod 0777 $dir: $!\n";
    _diag("LLOTest: keeping temp dir $dir") if $keep;
    return $dir;
}

sub wait_for {
    my ($code, %o) = @_;
    my $timeout  = $o{timeout}  // 10;
    my $interval = $o{interval} // 0.05;
    my $deadline = _now() + $timeout;
    while (1) {
        my $r = $code->();
        return $r if $r;
        return undef if _now() >= $deadline;
        _sleep($interval);
    }
}

# run a command; returns (exit code, stdout [, stderr]).
# opts: cwd, timeout (s, default 60), separate_stderr, stdin (data)
sub _run {
    my ($argv, %o) = @_;
    my $timeout = $o{timeout} // 60;

    pipe(my $or, my $ow) or die "LLOTest: pipe: $!\n";
    my ($er, $ew);
    if ($o{separate_stderr}) {
        pipe($er, $ew) or die "LLOTest: pipe: $!\n";
    }
    my ($ir, $iw);
    if (defined $o{stdin}) {
        pipe($ir, $iw) or die "LLOTest: pipe: $!\n";
    }

    my $pid = fork;
    die "LLOTest: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        close $or;
        close $er if $er;
        if ($ir) {
            close $iw;
            open STDIN, '<&', $ir or POSIX::_exit(126);
        } else {
            open STDIN, '<', '/dev/null' or POSIX::_exit(126);
        }
        open STDOUT, '>&', $ow or POSIX::_exit(126);
        open STDERR, '>&', ($ew // $ow) or POSIX::_exit(126);
        if (defined $o{cwd}) {
            chdir $o{cwd} or do {
                print STDERR "LLOTest: chdir $o{cwd}: $!\n";
                POSIX::_exit(126);
            };
        }
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        { no warnings 'exec'; exec { $argv->[0] } @$argv; }
        print STDERR "LLOTest: cannot exec $argv->[0]: $!\n";
        POSIX::_exit(127);
    }
    close $ow;
    close $ew if $ew;
    if ($iw) {
        close $ir;
        local $SIG{PIPE} = 'IGNORE';
        print $iw $o{stdin};
        close $iw;
    }

    my %buf = (out => '', err => '');
    my $sel = IO::Select->new($or, ($er ? $er : ()));
    my %which = (fileno($or) => 'out', ($er ? (fileno($er) => 'err') : ()));
    my $deadline = _now() + $timeout;
    my ($status, $reaped_at, $timed_out);
    while ($sel->count) {
        my $now = _now();
        if (!defined $status) {
            my $w = waitpid($pid, WNOHANG);
            if ($w == $pid) { $status = $?; $reaped_at = $now }
        }
        # a daemon child may keep our pipe open: stop reading shortly after
        # the command itself has exited
        last if defined $reaped_at && $now - $reaped_at > 0.5;
        if ($now > $deadline) { $timed_out = 1; last }
        for my $fh ($sel->can_read(0.05)) {
            my $n = sysread($fh, my $chunk, 65536);
            if (!$n) { $sel->remove($fh); next }
            $buf{ $which{ fileno $fh } } .= $chunk;
        }
    }
    if ($timed_out && !defined $status) {
        kill 'KILL', $pid;
        $buf{err} .= "\n[LLOTest: '@$argv' killed after ${timeout}s]\n";
    }
    if (!defined $status) {
        waitpid($pid, 0);
        $status = $?;
    }
    close $or;
    close $er if $er;
    my $rc = $status & 127 ? 128 + ($status & 127) : $status >> 8;
    if (!$o{separate_stderr}) {
        return ($rc, $buf{out} . $buf{err});
    }
    return ($rc, $buf{out}, $buf{err});
}

sub run_cmd {
    my (@argv) = @_;
    return _run(\@argv);
}

sub run_cmd_split {
    my (@argv) = @_;
    return _run(\@argv, separate_stderr => 1);
}

# -------------------------------------------------------------- processes

sub _proc_stat {
    my ($pid) = @_;
    my $s = _slurp("/proc/$pid/stat") // return undef;
    my $r = rindex($s, ')');
    return undef if $r < 0;
    my @f = split ' ', substr($s, $r + 2);
    return { state => $f[0], ppid => $f[1] };
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && $pid > 0;
    my $st = _proc_stat($pid) or return 0;
    return $st->{state} ne 'Z' && $st->{state} ne 'X';
}

sub _children {
    my ($ppid) = @_;
    opendir(my $dh, '/proc') or return ();
    my @kids;
    for my $p (readdir $dh) {
        next unless $p =~ /^\d+$/;
        my $st = _proc_stat($p) or next;
        push @kids, $p + 0 if $st->{ppid} == $ppid && $st->{state} ne 'Z';
    }
    return sort { $a <=> $b } @kids;
}

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 1,
    ) or return 0;
    close $s;
    return 1;
}

sub _wait_port {
    my ($port, $timeout) = @_;
    return wait_for(sub { _port_open($port) }, timeout => $timeout // 10);
}

# ------------------------------------------------------------------- nginx

sub _nginx_bin { $ENV{NGINX_BIN} // '/usr/sbin/nginx' }

sub nginx_module_path { "$ROOT/build/ngx_http_llm_observer_module.so" }

sub nginx_conf_text {
    my (%o) = @_;
    my $dir = $o{dir} // tempdir_world();
    my $workers = $o{workers} // 1;
    my $module = $o{module} // 1;

    my $conf = '';
    if ($module) {
        my $so = $module =~ m{/} ? $module : nginx_module_path();
        die "LLOTest: nginx module not built: $so does not exist"
            . " (build the module first; tests never skip)\n" unless -f $so;
        $conf .= "load_module $so;\n\n";
    }
    $conf .= <<"EOF";
user nobody nogroup;
worker_processes $workers;
daemon on;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log info;
EOF
    $conf .= "\n$o{main}\n" if defined $o{main};
    $conf .= <<"EOF";

events {
    worker_connections 1024;
}

http {
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;

EOF
    $conf .= ($o{http} // '') . "\n}\n";
    return $conf;
}

sub nginx_start {
    my (%o) = @_;
    my $dir = $o{dir} // tempdir_world();
    my $conf_text = nginx_conf_text(%o, dir => $dir);
    my $conf = "$dir/nginx.conf";
    _spew($conf, $conf_text);

    my @ports = @{ $o{ports} // [] };
    if (!$o{ports}) {
        # default: every "listen [127.0.0.1:]N" in the http text
        my $h = $o{http} // '';
        push @ports, $1 while $h =~ /\blisten\s+(?:127\.0\.0\.1:|localhost:)?(\d+)\b/g;
    }

    my $ng = {
        dir        => $dir,
        conf       => $conf,
        pid_file   => "$dir/nginx.pid",
        error_log  => "$dir/error.log",
        access_log => "$dir/access.log",
        ports      => \@ports,
        opts       => { %o, dir => $dir },
        pid        => undef,
        owner      => $$,
    };
    unlink $ng->{pid_file};

    my ($rc, $out) = _run([ _nginx_bin(), '-p', "$dir/", '-c', $conf ], timeout => 30);
    if ($rc != 0) {
        die "LLOTest: nginx failed to start (exit $rc):\n$out\n"
            . "--- error.log tail:\n" . _tail($ng->{error_log}, 20)
            . "\n--- nginx.conf:\n$conf_text\n";
    }
    push @NGINX, $ng;

    my $pid = wait_for(sub {
        my $p = _slurp($ng->{pid_file});
        return defined $p && $p =~ /^(\d+)/ ? $1 : undef;
    }, timeout => 10);
    die "LLOTest: nginx pid file $ng->{pid_file} did not appear within 10s\n"
        . "--- error.log tail:\n" . _tail($ng->{error_log}, 20) . "\n" unless $pid;
    $ng->{pid} = $pid;

    my $deadline = _now() + 10;
    for my $p (@ports) {
        my $left = $deadline - _now();
        _wait_port($p, $left > 0 ? $left : 0.1)
            or die "LLOTest: nginx (pid $pid) does not accept on 127.0.0.1:$p\n"
            . "--- error.log tail:\n" . _tail($ng->{error_log}, 20) . "\n";
    }
    return $ng;
}

sub nginx_test_conf {
    my ($text, %o) = @_;
    my $dir = $o{dir} // tempdir_world();
    my $conf = "$dir/nginx-test.conf";
    _spew($conf, $text);
    return _run([ _nginx_bin(), '-t', '-p', "$dir/", '-c', $conf ], timeout => 30);
}

sub nginx_workers {
    my ($ng) = @_;
    return () unless $ng->{pid} && _alive($ng->{pid});
    return _children($ng->{pid});
}

sub nginx_reload {
    my ($ng, %o) = @_;
    my $pid = $ng->{pid} or die "LLOTest: nginx_reload: nginx not running\n";
    die "LLOTest: nginx_reload: master $pid is gone\n" unless _alive($pid);
    if (grep { exists $o{$_} } qw(http main workers module)) {
        # new configuration text, same dir (pid file, logs)
        my %c = (%{ $ng->{opts} }, %o, dir => $ng->{dir});
        delete $c{timeout};
        _spew($ng->{conf}, nginx_conf_text(%c));
        $ng->{opts} = \%c;
    }
    my %old = map { $_ => 1 } _children($pid);
    kill 'HUP', $pid or die "LLOTest: nginx_reload: kill HUP $pid: $!\n";
    return wait_for(sub { scalar grep { !$old{$_} } _children($pid) },
        timeout => $o{timeout} // 2) ? 1 : 0;
}

sub nginx_stop {
    my ($ng) = @_;
    return 1 unless $ng && $ng->{pid};
    my $pid = $ng->{pid};
    my @workers = _children($pid);

    if (_alive($pid)) {
        kill 'QUIT', $pid;
        unless (wait_for(sub { !_alive($pid) }, timeout => 10)) {
            kill 'TERM', $pid;
            unless (wait_for(sub { !_alive($pid) }, timeout => 3)) {
                push @workers, _children($pid);
                kill 'KILL', $pid;
                wait_for(sub { !_alive($pid) }, timeout => 3);
            }
        }
    }
    # leftover workers (master killed hard)
    my @left = grep { _alive($_) } @workers;
    if (@left) {
        kill 'KILL', @left;
        wait_for(sub { !grep { _alive($_) } @left }, timeout => 3);
    }
    $ng->{pid} = undef;
    @NGINX = grep { $_ != $ng } @NGINX;
    return 1;
}

sub error_log_ok {
    my ($ng, %o) = @_;
    my @allow = map { ref $_ ? $_ : qr/\Q$_\E/ } @{ $o{allow} // [] };
    my $tb = Test::More->builder;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $name = 'no [alert]/[error]/[crit]/[emerg] in error.log';
    my $f = ref $ng ? $ng->{error_log} // "$ng->{dir}/error.log" : $ng;
    my $log = _slurp($f);
    unless (defined $log) {
        my $ok = $tb->ok(0, $name);
        $tb->diag("cannot read $f: $!");
        return $ok;
    }
    my @bad;
    for my $l (split /\n/, $log) {
        next unless $l =~ /\[(?:alert|error|crit|emerg)\]/;
        next if grep { $l =~ $_ } @allow;
        push @bad, $l;
    }
    my $ok = $tb->ok(!@bad, $name);
    $tb->diag("offending lines in $f:\n" . join("\n", @bad)) if @bad;
    return $ok;
}

# ---------------------------------------------------------------- postgres

sub _pg_tool {
    my ($name) = @_;
    my $p = "$PG_BIN/$name";
    die "LLOTest: PostgreSQL tool $p is missing (install postgresql-15 or set PG_BIN)\n"
        unless -x $p;
    return $p;
}

sub _as_postgres {
    my ($pg, @argv) = @_;
    return _run([ 'runuser', '-u', 'postgres', '--', @argv ],
        cwd => $pg->{dir}, timeout => 60);
}

sub pg_start {
    my (%o) = @_;
    my $initdb = _pg_tool('initdb');
    _pg_tool($_) for qw(pg_ctl postgres psql);
    my ($uid, $gid) = (getpwnam('postgres'))[2, 3];
    die "LLOTest: no 'postgres' system user\n" unless defined $uid;

    my $keep = $ENV{LLO_KEEP};
    my $dir = File::Temp::tempdir('llo-pg-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
    _diag("LLOTest: keeping postgres dir $dir") if $keep;
    chown $uid, $gid, $dir or die "LLOTest: chown postgres $dir: $!\n";
    chmod 0700, $dir;

    my $pg = {
        dir     => $dir,
        data    => "$dir/data",
        log     => "$dir/postgres.log",
        port    => $o{port} // free_port(),
        dbname  => 'llo',
        running => 0,
        owner   => $$,
    };
    $pg->{conninfo} = "host=127.0.0.1 port=$pg->{port} dbname=llo user=postgres";

    my ($rc, $out) = _as_postgres($pg, $initdb, '-D', $pg->{data}, '-A', 'trust',
        '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C');
    die "LLOTest: initdb failed (exit $rc):\n$out\n" if $rc;

    pg_start_again($pg);

    ($rc, $out) = _run([ _pg_tool('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1',
        '-h', '127.0.0.1', '-p', $pg->{port}, '-U', 'postgres', '-d', 'postgres',
        '-c', 'CREATE DATABASE llo' ], timeout => 60);
    die "LLOTest: CREATE DATABASE llo failed (exit $rc):\n$out\n" if $rc;
    return $pg;
}

sub pg_start_again {
    my ($pg) = @_;
    return $pg if $pg->{running};
    my $opts = "-p $pg->{port} -k $pg->{dir} -c listen_addresses=127.0.0.1 -c fsync=off";
    my ($rc, $out) = _as_postgres($pg, _pg_tool('pg_ctl'), '-D', $pg->{data},
        '-l', $pg->{log}, '-o', $opts, '-w', '-t', '30', 'start');
    if ($rc) {
        die "LLOTest: pg_ctl start failed (exit $rc):\n$out\n"
            . "--- postgres.log tail:\n" . _tail($pg->{log}, 20) . "\n";
    }
    $pg->{running} = 1;
    push @PG, $pg unless grep { $_ == $pg } @PG;
    _wait_port($pg->{port}, 10)
        or die "LLOTest: postgres does not accept on 127.0.0.1:$pg->{port}\n";
    return $pg;
}

sub pg_stop_only {
    my ($pg) = @_;
    return 1 unless $pg->{running};
    my ($rc, $out) = _as_postgres($pg, _pg_tool('pg_ctl'), '-D', $pg->{data},
        '-m', 'fast', '-w', '-t', '30', 'stop');
    if ($rc) {
        # last resort: immediate shutdown via the postmaster pid
        my $pidl = _slurp("$pg->{data}/postmaster.pid") // '';
        my ($pid) = $pidl =~ /^(\d+)/;
        if ($pid) {
            kill 'QUIT', $pid;
            wait_for(sub { !_alive($pid) }, timeout => 5) or kill 'KILL', $pid;
        }
        _diag("LLOTest: pg_ctl stop failed (exit $rc): $out");
    }
    $pg->{running} = 0;
    return 1;
}

sub pg_stop {
    my ($pg) = @_;
    return 1 unless $pg;
    pg_stop_only($pg);
    @PG = grep { $_ != $pg } @PG;
    return 1;
}

sub psql {
    my ($pg, $sql, %o) = @_;
    my ($fh, $file) = File::Temp::tempfile('llo-sql-XXXXXX', TMPDIR => 1, UNLINK => 1);
    binmode $fh;
    print $fh $sql;
    close $fh;
    chmod 0644, $file;
    local $ENV{PGCONNECT_TIMEOUT} = 5;
    my ($rc, $out, $err) = _run([ _pg_tool('psql'), '-X', '-q', '-A', '-t',
        '-F', '|', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', $pg->{port},
        '-U', 'postgres', '-d', $o{dbname} // $pg->{dbname} // 'llo', '-f', $file ],
        separate_stderr => 1, timeout => $o{timeout} // 60);
    unlink $file;
    die "LLOTest: psql failed (exit $rc) for SQL:\n$sql\n$err\n" if $rc;
    $out =~ s/\n+\z//;
    return $out;
}

# ---------------------------------------------------------------- upstream

# t/lib/NAME.pl --port PORT --log LOG ARGS..., stdout and stderr to a file
sub _daemon_start {
    my ($name, $o, @args) = @_;
    my $dir  = $o->{dir} // tempdir_world();
    my $port = $o->{port} // free_port();
    my $log  = $o->{log} // "$dir/$name.log";
    my $err  = "$dir/$name-$port.stderr";
    my $script = "$ROOT/t/lib/$name.pl";
    die "LLOTest: $script is missing\n" unless -f $script;

    my $pid = fork;
    die "LLOTest: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $err or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        { no warnings 'exec';
          exec $^X, $script, '--port', $port, '--log', $log, @args; }
        print STDERR "cannot exec $^X: $!\n";
        POSIX::_exit(127);
    }
    my $u = { port => $port, pid => $pid, log => $log, stderr => $err,
              dir => $dir, owner => $$ };
    push @UPSTREAM, $u;

    my $ok = wait_for(sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        return _port_open($port);
    }, timeout => 10);
    if (!$ok || $ok == -1) {
        my $why = $ok ? 'exited' : 'does not accept within 10s';
        upstream_stop($u);
        die "LLOTest: $name.pl on port $port $why:\n" . _tail($err, 20) . "\n";
    }
    return $u;
}

sub upstream_start {
    my (%o) = @_;
    return _daemon_start('upstream', \%o);
}

sub upstream_stop {
    my ($u) = @_;
    return 1 unless $u && $u->{pid};
    my $pid = $u->{pid};
    kill 'TERM', -$pid;
    kill 'TERM', $pid;
    my $gone = wait_for(sub { waitpid($pid, WNOHANG) != 0 }, timeout => 5);
    unless ($gone) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $u->{pid} = undef;
    @UPSTREAM = grep { $_ != $u } @UPSTREAM;
    return 1;
}

# parsed --log lines: {method, path, sha256, len, scenario, version,
# headers => {lc name => value}, body}
sub upstream_log {
    my ($u) = @_;
    my $d = _slurp($u->{log}) // '';
    my @r;
    for my $l (split /\n/, $d) {
        my @f = split /\t/, $l;
        my $h = eval { JSON::PP->new->decode($f[6] // '{}') } // {};
        push @r, { method => $f[0], path => $f[1], sha256 => $f[2],
                   len => $f[3], scenario => $f[4], version => $f[5],
                   headers => $h, body => pack('H*', $f[7] // '') };
    }
    return @r;
}

# ------------------------------------------------------------------ judge

sub judge_start {
    my (%o) = @_;
    return _daemon_start('judge', \%o,
        defined $o{key} ? ('--key', $o{key}) : ());
}

sub judge_stop { return upstream_stop(@_) }

# the --log lines of judge.pl, decoded, in arrival order
sub judge_log {
    my ($j) = @_;
    my $d = _slurp($j->{log}) // '';
    return map { json_decode($_) } grep { length } split /\n/, $d;
}

# -------------------------------------------------------------- HTTP client

sub _dechunk {
    my ($data) = @_;
    my $body = '';
    my $pos = 0;
    while (1) {
        my $e = index($data, "\r\n", $pos);
        return ($body, 0) if $e < 0;
        my ($hex) = substr($data, $pos, $e - $pos) =~ /^\s*([0-9a-fA-F]+)/;
        return ($body, 0) unless defined $hex;
        my $size = hex $hex;
        $pos = $e + 2;
        if ($size == 0) {
            # trailers up to the empty line
            while (1) {
                my $t = index($data, "\r\n", $pos);
                return ($body, 0) if $t < 0;
                my $empty = $t == $pos;
                $pos = $t + 2;
                return ($body, 1) if $empty;
            }
        }
        if (length($data) < $pos + $size) {
            $body .= substr($data, $pos);
            return ($body, 0);
        }
        $body .= substr($data, $pos, $size);
        $pos += $size + 2;
    }
}

# non-blocking socket: write everything before $deadline (epoch seconds)
sub _write_all {
    my ($sock, $data, $deadline) = @_;
    my $sel = IO::Select->new($sock);
    my $off = 0;
    while ($off < length $data) {
        my $left = $deadline - _now();
        return 0 if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN} || $!{EWOULDBLOCK};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub http_req {
    my (%o) = @_;
    my $port = $o{port} // die "LLOTest: http_req: port is required\n";
    my $method = $o{method} // 'POST';
    my $path = $o{path} // '/';
    my $version = $o{http_version} // '1.1';
    my @h = @{ $o{headers} // [] };
    my %has = map { lc $_->[0] => 1 } @h;
    my $body = $o{body};

    my $req = "$method $path HTTP/$version\r\n";
    $req .= "Host: localhost\r\n" unless $has{host};
    $req .= "$_->[0]: $_->[1]\r\n" for @h;
    $req .= "Connection: close\r\n" unless $has{connection};
    my @body_writes;
    if ($o{chunked}) {
        $body //= '';
        $req .= "Transfer-Encoding: chunked\r\n" unless $has{'transfer-encoding'};
        my $len = length $body;
        my $cs = $o{chunk_size} // ($len > 3 ? int(($len + 2) / 3) : 1);
        for (my $p = 0; $p < $len; $p += $cs) {
            my $piece = substr($body, $p, $cs);
            push @body_writes, sprintf("%x\r\n", length $piece) . $piece . "\r\n";
        }
        push @body_writes, "0\r\n\r\n";
    } else {
        if (!defined $body && $method =~ /^(?:POST|PUT|PATCH)$/) {
            $body = '';
        }
        if (defined $body) {
            $req .= "Content-Length: " . length($body) . "\r\n"
                unless $has{'content-length'};
            push @body_writes, $body if length $body;
        }
    }
    $req .= "\r\n";

    my $sock = IO::Socket::INET->new(
        PeerAddr => $o{host} // '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 5,
    ) or die "LLOTest: http_req: cannot connect to 127.0.0.1:$port: $!\n";
    binmode $sock;
    $sock->blocking(0);

    my $timeout = $o{read_timeout} // 10;
    {
        # a server may answer early and stop reading: never block forever
        local $SIG{PIPE} = 'IGNORE';
        my $wdl = _now() + ($o{write_timeout} // $timeout);
        if ($o{chunked}) {
            _write_all($sock, $req, $wdl);
            for my $w (@body_writes) {
                _sleep($o{chunk_delay} // 0.005);
                _write_all($sock, $w, $wdl) or last;
            }
        } else {
            _write_all($sock, join('', $req, @body_writes), $wdl);
        }
    }

    my $abort = $o{abort_after_bytes};
    my $deadline = _now() + $timeout;
    my $sel = IO::Select->new($sock);
    my $raw = '';
    my ($timed_out, $aborted) = (0, 0);
    while (1) {
        my $left = $deadline - _now();
        if ($left <= 0) { $timed_out = 1; last }
        next unless $sel->can_read($left);
        my $want = 65536;
        if (defined $abort) {
            $want = $abort - length $raw;
            $want = 65536 if $want > 65536;
        }
        my $n = sysread($sock, $raw, $want, length $raw);
        next if !defined $n && ($!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR});
        last unless $n;    # EOF or error (e.g. reset)
        if (defined $abort && length($raw) >= $abort) {
            # abortive close: RST instead of FIN
            setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
            $aborted = 1;
            last;
        }
    }
    close $sock;

    my $res = { raw => $raw, status => undef, headers => {}, header_list => [],
                body => '', complete => 0, timed_out => $timed_out,
                aborted => $aborted };

    # skip interim 1xx responses
    my $rest = $raw;
    while ($rest =~ /^HTTP\/\d\.\d 1\d\d/) {
        my $e = index($rest, "\r\n\r\n");
        last if $e < 0;
        $rest = substr($rest, $e + 4);
    }
    my $he = index($rest, "\r\n\r\n");
    return $res if $he < 0;
    my @lines = split /\r\n/, substr($rest, 0, $he);
    my $sl = shift @lines;
    if ($sl =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$}) {
        $res->{http_version} = $1;
        $res->{status} = $2 + 0;
        $res->{reason} = $3 // '';
    }
    for my $l (@lines) {
        my ($n, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $res->{header_list} }, [ $n, $v ];
        my $k = lc $n;
        $res->{headers}{$k} = exists $res->{headers}{$k}
            ? "$res->{headers}{$k}, $v" : $v;
    }
    my $data = substr($rest, $he + 4);
    my $hd = $res->{headers};
    if ($method eq 'HEAD' || ($res->{status} // 0) == 204 || ($res->{status} // 0) == 304) {
        $res->{complete} = 1;
    } elsif (($hd->{'transfer-encoding'} // '') =~ /chunked/i) {
        @$res{qw(body complete)} = _dechunk($data);
    } elsif (defined $hd->{'content-length'}) {
        my $cl = $hd->{'content-length'};
        $res->{body} = substr($data, 0, $cl);
        $res->{complete} = length($data) >= $cl ? 1 : 0;
    } else {
        $res->{body} = $data;
        $res->{complete} = !$timed_out && !$aborted ? 1 : 0;
    }
    return $res;
}

# ------------------------------------------------------------- SSE / JSON

my $JSON = JSON::PP->new->utf8->allow_nonref;

# bytes -> Perl data (strings are character strings)
sub json_decode { return $JSON->decode($_[0]) }

# SSE body -> list of "data" payloads (multi-line data joined with "\n")
sub sse_events {
    my ($body) = @_;
    my @events;
    my @data;
    my $have = 0;
    for my $line (split /\r\n|\r|\n/, $body, -1) {
        if ($line eq '') {
            push @events, join("\n", @data) if $have;
            @data = ();
            $have = 0;
            next;
        }
        next if $line =~ /^:/;
        my ($f, $v) = $line =~ /^([^:]*)(?::(.*))?$/;
        $v //= '';
        $v =~ s/^ //;
        if ($f eq 'data') { push @data, $v; $have = 1 }
    }
    return @events;
}

# concatenated choices[0].delta.content of an OpenAI SSE body, UTF-8 bytes
sub sse_text {
    my ($body) = @_;
    my $text = '';
    for my $d (sse_events($body)) {
        next if $d eq '[DONE]';
        my $j = json_decode($d);
        for my $c (@{ $j->{choices} // [] }) {
            my $t = $c->{delta}{content};
            $text .= $t if defined $t;
        }
    }
    utf8::encode($text);
    return $text;
}

# ----------------------------------------------------------------- cleanup

# a daemon of another package (prometheus, alertmanager): stdout and
# stderr to $log; stopped (TERM, then reaped) when the test ends
our @SPAWNED;

sub spawn {
    my ($log, @argv) = @_;
    my $pid = fork;
    die "LLOTest: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        { no warnings 'exec'; exec { $argv[0] } @argv; }
        print STDERR "LLOTest: cannot exec $argv[0]: $!\n";
        POSIX::_exit(127);
    }
    push @SPAWNED, $pid;
    return $pid;
}

sub _cleanup {
    return unless $$ == $OWNER;
    local ($?, $!, $@);
    local $SIG{PIPE} = 'IGNORE';
    {
        for my $pid (reverse @SPAWNED) {
            kill 'TERM', $pid;
            waitpid $pid, 0;
        }
        for my $ng (reverse @NGINX) {
            next unless $ng->{owner} == $$;
            eval { nginx_stop($ng) };
        }
        for my $u (reverse @UPSTREAM) {
            next unless $u->{owner} == $$;
            eval { upstream_stop($u) };
        }
        for my $pg (reverse @PG) {
            next unless $pg->{owner} == $$;
            eval { pg_stop($pg) };
        }
    }
}

END { _cleanup() }

1;
