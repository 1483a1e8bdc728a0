#!/usr/bin/perl

# Directives of the llm_observer module: bad values are refused by nginx -t
# with a message that names the directive, the value and file:line; good
# configurations pass; the ring file is created with the right size, mode,
# owner and group, a file that is not the configured ring stops nginx from
# starting, and a reload keeps the ring (same instance, no record lost).

use strict;
use warnings;

use Test::More;

use LLOTest;

my $EV = repo_root() . '/build/llm-evaluator';
die "llm-evaluator is not built ($EV); run make evaluator\n" unless -x $EV;

my $UUID = qr/^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4})-([0-9a-f]{4}-[0-9a-f]{12})$/;

# an existing group that is not the workers' group (nogroup)
my ($GROUP) = grep { defined getgrnam($_) } qw(adm daemon users www-data);
die "no group adm/daemon/users/www-data on this system\n" unless $GROUP;
my $GID = getgrnam($GROUP);
my $NOBODY = getpwnam('nobody');
my $NOGROUP = getgrnam('nogroup');
die "no user nobody / group nogroup\n" unless defined $NOBODY && defined $NOGROUP;

# ----------------------------------------------------------- nginx -t: bad

my $dir = tempdir_world();

# line of the first occurrence of $needle in the http text, as nginx counts
# it in the whole nginx.conf
sub conf_line {
    my ($text, $needle) = @_;
    my $i = index($text, $needle);
    return undef if $i < 0;
    return 1 + (() = substr($text, 0, $i) =~ /\n/g);
}

my @bad = (
    [ 'llm_observer maybe',
      "llm_observer maybe;",
      'llm_observer', 'maybe', qr/it must be "on" or "off"/ ],
    [ 'ring size=abc',
      "llm_observer_ring $dir/r1 size=abc;",
      'llm_observer_ring', 'size=abc', qr/64k\.\.64g/ ],
    [ 'ring size=1k (too small)',
      "llm_observer_ring $dir/r1 size=1k;",
      'llm_observer_ring', 'size=1k', qr/64k\.\.64g/ ],
    [ 'ring size=1000001 (not a multiple of 8)',
      "llm_observer_ring $dir/r1 size=1000001;",
      'llm_observer_ring', 'size=1000001', qr/multiple of 8/ ],
    [ 'ring size=65g (too big)',
      "llm_observer_ring $dir/r1 size=65g;",
      'llm_observer_ring', 'size=65g', qr/64k\.\.64g/ ],
    [ 'ring group=nosuchgroupxyz',
      "llm_observer_ring $dir/r1 group=nosuchgroupxyz;",
      'llm_observer_ring', 'group=nosuchgroupxyz', qr/group/ ],
    [ 'ring bogus=1',
      "llm_observer_ring $dir/r1 bogus=1;",
      'llm_observer_ring', 'bogus=1', qr/invalid parameter/ ],
    [ 'ring without a path',
      "llm_observer_ring;",
      'llm_observer_ring', undef, qr/invalid number of arguments/ ],
    [ 'duplicate llm_observer_ring',
      "llm_observer_ring $dir/r1;\n    llm_observer_ring $dir/r2;",
      'llm_observer_ring', undef, qr/is duplicate/, "llm_observer_ring $dir/r2" ],
    [ 'llm_observer_max_text lots',
      "llm_observer_max_text lots;",
      'llm_observer_max_text', 'lots', qr/invalid value/ ],
    [ 'duplicate llm_observer_max_text',
      "llm_observer_max_text 1k;\n    llm_observer_max_text 2k;",
      'llm_observer_max_text', undef, qr/is duplicate/, "llm_observer_max_text 2k" ],
    [ 'llm_observer_max_text 100m (over the bound)',
      "llm_observer_max_text 100m;",
      'llm_observer_max_text', '100m', qr/16m/ ],
    [ 'llm_observer_ring inside a location',
      "server { listen 127.0.0.1:1; location / { llm_observer_ring $dir/r1; } }",
      'llm_observer_ring', undef, qr/is not allowed here/ ],
    [ 'llm_observer_ring inside a server',
      "server { listen 127.0.0.1:1; llm_observer_ring $dir/r1; }",
      'llm_observer_ring', undef, qr/is not allowed here/ ],
);

for my $b (@bad) {
    my ($name, $http, $directive, $value, $why, $at) = @$b;
    my $text = nginx_conf_text(dir => $dir, http => "    $http\n");
    my ($rc, $out) = nginx_test_conf($text, dir => $dir);
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: an [emerg] message");
    like($out, qr/"\Q$directive\E"/, "$name: message names \"$directive\"");
    like($out, qr/"\Q$value\E"/, "$name: message names the value \"$value\"")
        if defined $value;
    like($out, $why, "$name: message says why");
    my $line = conf_line($text, $at // $http =~ s/\n.*//sr);
    like($out, qr/ in \Q$dir\E\/nginx-test\.conf:$line\b/,
        "$name: message names file:line ($line)");
    ok(!-e "$dir/r1" && !-e "$dir/r2", "$name: no ring file made")
        or unlink "$dir/r1", "$dir/r2";
}

# --------------------------------------------------------- nginx -t: good

# rings belong on tmpfs (a disk file system gets a warning, checked below)
my $shm = "/dev/shm/llo-t010-$$";
mkdir $shm or die "mkdir $shm: $!";
chmod 0777, $shm;
END { system('rm', '-rf', $shm) if $shm && -d $shm }

my @good = (
    [ 'ring with size and group, llm_observer on in http',
      "llm_observer_ring $shm/g1 size=64k group=$GROUP;\n    llm_observer on;",
      "$shm/g1", 65536 ],
    [ 'size=65544 (a multiple of 8, not of a page)',
      "llm_observer_ring $shm/g2 size=65544;\n    server { listen 127.0.0.1:1; llm_observer on; }",
      "$shm/g2", 65544 ],
    [ 'size=1m, llm_observer on in a location, max_text at every level',
      "llm_observer_ring $shm/g3 size=1m;\n    llm_observer_max_text 0;\n"
      . "    server { listen 127.0.0.1:1; llm_observer_max_text 16m;\n"
      . "        location / { llm_observer on; llm_observer_max_text 64; } }",
      "$shm/g3", 1048576 ],
    [ 'llm_observer off everywhere: no ring file',
      "llm_observer_ring $shm/g4 size=64k;\n    llm_observer off;\n"
      . "    server { listen 127.0.0.1:1; llm_observer off;\n"
      . "        location / { llm_observer off; } }",
      "$shm/g4", undef ],
    [ 'module loaded, nothing configured',
      "server { listen 127.0.0.1:1; }", undef, undef ],
);

for my $g (@good) {
    my ($name, $http, $ring, $size) = @$g;
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir, http => "    $http\n"),
        dir => $dir);
    is($rc, 0, "$name: nginx -t passes") or diag($out);
    like($out, qr/syntax is ok/, "$name: syntax is ok");
    unlike($out, qr/\[(?:emerg|alert|crit|error|warn)\]/, "$name: no complaint");
    next unless defined $ring;
    if (defined $size) {
        is(-s $ring, 4096 + $size, "$name: ring file is header + $size bytes");
    } else {
        ok(!-e $ring, "$name: no ring file when nothing observes");
    }
}

{
    # a directory on a disk file system: the temp dir, else the repo
    my ($disk) = grep { `stat -f -c %T $_` !~ /tmpfs/ } $dir, repo_root() . '/build';
    die "no directory on a disk file system for the tmpfs warning test\n" unless $disk;
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir,
        http => "    llm_observer_ring $disk/disk.ring size=64k;\n"
              . "    llm_observer on;\n"), dir => $dir);
    is($rc, 0, 'a ring on a disk file system: nginx -t passes') or diag($out);
    like($out, qr/\[warn\].*llm_observer_ring "\Q$disk\E\/disk.ring" is not on tmpfs/,
        'a ring on a disk file system: a warning says to use /dev/shm');
    unlink "$disk/disk.ring";
}

# ------------------------------------------------ ring file: mode and owner

{
    my ($mode, $uid, $gid) = (stat "$shm/g1")[2, 4, 5];
    is(sprintf('%04o', ($mode // 0) & 07777), '0660', 'ring file mode 0660');
    is($uid, $NOBODY, 'ring file owned by the worker user (nobody)');
    is($gid, $GID, "ring file group is group=$GROUP");

    ($mode, $uid, $gid) = (stat "$shm/g2")[2, 4, 5];
    is(sprintf('%04o', ($mode // 0) & 07777), '0660', 'ring file without group=: mode 0660');
    is($uid, $NOBODY, 'ring file without group=: owner nobody');
    is($gid, $NOGROUP, "ring file without group=: the workers' group (nogroup)");
}

# ------------------------------------ a file that is not the configured ring

{
    my $port = free_port();
    my $d = tempdir_world();
    my $http = "    llm_observer_ring $d/llo.ring size=64k;\n"
        . "    server { listen 127.0.0.1:$port; llm_observer on; return 204; }\n";

    # make it at 64k, then ask for 128k
    my $ng = nginx_start(dir => $d, http => $http);
    ok($ng->{pid}, 'nginx starts with a new 64k ring');
    nginx_stop($ng);
    error_log_ok($ng);
    is(-s "$d/llo.ring", 4096 + 65536, 'the 64k ring file stays after nginx stops');

    (my $http2 = $http) =~ s/size=64k/size=128k/;
    my $ng2 = eval { nginx_start(dir => $d, http => $http2) };
    ok(!$ng2, 'a ring file of another size: nginx refuses to start');
    my $err = $@;
    like($err, qr/\[emerg\].*llm_observer_ring/, 'the refusal names llm_observer_ring');
    like($err, qr/\Q$d\E\/llo\.ring/, 'the refusal names the path');
    like($err, qr/\b65536\b/, 'the refusal names the existing size (65536)');
    like($err, qr/\b131072\b/, 'the refusal names the configured size (131072)');
    like($err, qr/nginx\.conf:\d+/, 'the refusal names file:line');
    is(-s "$d/llo.ring", 4096 + 65536, 'the existing ring is left alone');

    # random bytes
    my $junk = "$d/junk.ring";
    open my $fh, '>:raw', $junk or die "$junk: $!";
    print $fh join '', map { chr(int rand 256) } 1 .. 8192;
    close $fh;
    open $fh, '<:raw', $junk or die;
    my $before = do { local $/; <$fh> };
    close $fh;
    (my $http3 = $http) =~ s/\S+llo\.ring/$junk/;
    my $ng3 = eval { nginx_start(dir => $d, http => $http3) };
    ok(!$ng3, 'a file of random bytes: nginx refuses to start');
    like($@, qr/\Q$junk\E.*not an llm_observer ring/,
        'the refusal names the path and says "not an llm_observer ring"');
    open $fh, '<:raw', $junk or die;
    my $after = do { local $/; <$fh> };
    close $fh;
    ok($before eq $after, 'the foreign file is not modified');
}

# ---------------------------------------------------- reload keeps the ring

{
    my $up = upstream_start();
    my $pg = pg_start();
    my $d = tempdir_world();
    my $ring = "$d/llo.ring";
    my $evconf = "$d/evaluator.conf";
    open my $efh, '>', $evconf or die "$evconf: $!";
    close $efh;
    my @ev = ($EV, '-c', $evconf, '-o', "ring_path=$ring",
        '-o', "pg_conninfo=$pg->{conninfo}", '-o', 'sql_dir=' . repo_root() . '/sql',
        '-o', "log_file=$d/evaluator.log");
    my ($rc, $out) = run_cmd(@ev, 'migrate');
    is($rc, 0, 'llm-evaluator migrate') or diag($out);

    my $port = free_port();
    my $port2 = free_port();
    my $upp = $up->{port};
    my $server = <<"EOF";
    llm_observer_ring $ring size=1m group=$GROUP;
    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF
    my $ng = nginx_start(dir => $d, workers => 2, http => $server);
    my ($ino, $mode, $uid, $gid) = (stat $ring)[1, 2, 4, 5];
    is(sprintf('%04o', ($mode // 0) & 07777), '0660', 'nginx made its ring 0660');
    is($uid, $NOBODY, 'nginx made its ring owned by nobody');
    is($gid, $GID, "nginx made its ring group $GROUP (group=)");

    my @ids;
    my $call = sub {
        my ($p) = @_;
        my $r = http_req(port => $p // $port, path => '/v1/chat/completions',
            headers => [ [ 'x-scenario', 'json' ] ],
            body => '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}');
        push @ids, $r->{headers}{'x-llm-id'} // 'none';
        return $r;
    };
    $call->() for 1 .. 3;
    ok(nginx_reload($ng, timeout => 5), 'reload (HUP): new workers');
    $call->() for 1 .. 3;
    # a changed configuration, same ring directive
    ok(nginx_reload($ng, http => $server
        . "    server { listen 127.0.0.1:$port2; llm_observer on;\n"
        . "        location / { add_header X-LLM-Id \$llm_request_id always;\n"
        . "                     proxy_pass http://127.0.0.1:$upp; } }\n", timeout => 5),
        'reload with a changed configuration: new workers');
    ok(wait_for(sub { eval { $call->($port2)->{status} } }, timeout => 5),
        'the new server answers');
    $call->() for 1 .. 2;

    # a different size on reload is refused; the running config goes on
    (my $bigger = $server) =~ s/size=1m/size=2m/;
    ok(!nginx_reload($ng, http => $bigger), 'reload with another ring size: refused');
    ok(kill(0, $ng->{pid}), 'the master survives the refused reload');
    my @workers = nginx_workers($ng);
    is(scalar @workers, 2, 'the master still has its 2 workers') or diag("@workers");
    like(do { local (@ARGV, $/) = $ng->{error_log}; <> },
        qr/\[emerg\].*\Q$ring\E.*1048576.*2097152/,
        'error.log names the path and both sizes');
    $call->() for 1 .. 2;

    is((stat $ring)[1], $ino, 'the ring file is the same file (inode) after reloads');
    is(-s $ring, 4096 + 1048576, 'the ring keeps its size');
    my @bad = grep { $_ !~ $UUID } @ids;
    is(scalar @bad, 0, 'every call got a UUID') or diag("@bad");
    my %inst = map { /$UUID/ ? ($1 => 1) : () } @ids;
    is(scalar keys %inst, 1, 'one ring instance (first 16 hex digits) across reloads')
        or diag(join ' ', keys %inst);
    my @seq = map { /$UUID/ ? hex($2 =~ s/-//r) : 0 } @ids;
    is_deeply([ sort { $a <=> $b } @seq ], [ 1 .. scalar @ids ],
        'sequence numbers continue across reloads: 1..' . scalar @ids);

    # records are appended when nginx finishes a request: drain until all
    my $got = '';
    wait_for(sub {
        ($rc, $out) = run_cmd(@ev, 'drain');
        $got = psql($pg, 'SELECT id FROM llm_requests ORDER BY id');
        return $rc || $got eq join("\n", sort @ids);
    }, timeout => 10, interval => 0.2);
    is($rc, 0, 'llm-evaluator drain') or diag($out);
    is_deeply([ split /\n/, $got ], [ sort @ids ],
        'every record, before and after the reloads, is in PostgreSQL');

    ($rc, $out) = run_cmd(@ev, 'ring-stat');
    like($out, qr/^drops 0$/m, 'ring-stat: no drops');
    like($out, qr/^instance (\w+)$/m, 'ring-stat shows the instance');
    my ($inst) = $out =~ /^instance (\w+)$/m;
    my ($id_inst) = keys %inst;
    is($inst, ($id_inst // '') =~ s/-//gr, 'ring-stat instance = the ids\' first 16 hex digits');

    nginx_stop($ng);
    error_log_ok($ng, allow => [
        qr/\[emerg\] .*llm_observer_ring "\Q$ring\E": ring "\Q$ring\E" exists with size 1048576, not the configured 2097152/,
    ]);
}

done_testing;
