package LLOPipeline;

# The pipeline the integration tests share: a fake upstream, a throwaway
# PostgreSQL, a temp dir holding the ring, and llm-evaluator pointed at
# both (core Perl only; builds on LLOTest).
#
#   use Test::More;
#   use LLOTest;
#   use LLOPipeline;
#
#   my $p = pipeline_start();          # asserts 'llm-evaluator migrate'
#   my $ng = nginx_start(dir => $p->{dir}, http => <<"EOF");
#       llm_observer_ring $p->{ring} size=4m;
#       ... proxy_pass http://127.0.0.1:$p->{up}{port}; ...
#   EOF
#   ... calls ...
#   drain_ok($p, 'what', @ids);
#   my ($w) = rows($p, "id = '$id'");
#
# A pipeline is a hash: { ev, up, pg, dir, ring, evconf, evlog, evout,
# ev_opts }.  The ev* functions read ring, evconf, evlog and evout from
# it, so a shallow copy with one of them changed runs the same evaluator
# on another ring or with another config file:
#   ev({ %$p, ring => "$d/tiny.ring" }, 'drain');
#
# API (all exported by default):
#   $UUID                        qr// of a $llm_request_id / row id
#   evaluator_path()             <repo>/build/llm-evaluator (dies if not built)
#   pipeline_start(%o)           upstream (unless upstream => 0), pg, dir
#       (or dir => DIR), ring "$dir/llo.ring", an empty evaluator.conf,
#       log "$dir/evaluator.log"; ev_opts => ['key=value', ..] are added
#       as -o to every evaluator command; unless migrate => 0, runs
#       migrate and asserts it exits 0
#   ev_argv($p, @args)           the llm-evaluator argv: -c evconf, -o for
#       ring_path, pg_conninfo, sql_dir, log_file, ev_opts, then @args
#       (a later -o wins, so @args may override any of them)
#   ev($p, @args)                run_cmd(ev_argv(...)): (exit code, output)
#   ring_stat($p)                "ring-stat" as a hash (dies if it fails)
#   rows($p, $where)             llm_requests rows as hashes, ORDER BY ts,
#       id; strings are UTF-8 bytes, booleans 1/0, NULL undef
#   drain_ok($p, $name, @ids)    tests: "drain" until the rows of all ids
#       are there (10 s), it exits 0, and they are
#   drained_row($p, $id)         "drain" until the row is there (10 s);
#       the row, or {}
#   ev_spawn($p, @args)          the evaluator in the background, stdin
#       /dev/null, stdout and stderr appended to evout ("$dir/evaluator.out");
#       its pid (killed at exit if still running)
#   ev_reap($pid, timeout => 10) its exit code (128 + signal when killed),
#       or undef when it has not exited within the timeout

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use POSIX ();
use Test::More ();

use LLOTest;

our @EXPORT = qw(
    $UUID evaluator_path pipeline_start
    ev_argv ev ring_stat rows drain_ok drained_row
    ev_spawn ev_reap observer_nginx reply_call
);

our $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

my $OWNER = $$;
my %SPAWNED;    # pid => 1, evaluators started by ev_spawn and not reaped

sub evaluator_path {
    my $ev = repo_root() . '/build/llm-evaluator';
    die "llm-evaluator is not built ($ev); run make evaluator\n" unless -x $ev;
    return $ev;
}

sub pipeline_start {
    my (%o) = @_;
    my $p = { ev => evaluator_path() };
    $p->{up} = upstream_start() if $o{upstream} // 1;
    $p->{pg} = pg_start();
    my $dir = $p->{dir} = $o{dir} // tempdir_world();
    $p->{ring} = "$dir/llo.ring";
    $p->{evconf} = "$dir/evaluator.conf";
    $p->{evlog} = "$dir/evaluator.log";
    $p->{evout} = "$dir/evaluator.out";
    $p->{ev_opts} = [ @{ $o{ev_opts} // [] } ];
    open my $fh, '>', $p->{evconf} or die "$p->{evconf}: $!";
    close $fh;

    if ($o{migrate} // 1) {
        my ($rc, $out) = ev($p, 'migrate');
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        Test::More::is($rc, 0, 'llm-evaluator migrate') or Test::More::diag($out);
    }
    return $p;
}

# nginx with the module on a free port in front of the pipeline's upstream,
# writing to its ring: ($ng, $port)
sub observer_nginx {
    my ($p) = @_;
    my $port = free_port();
    my $ng = nginx_start(dir => $p->{dir}, http => <<"EOF");
    llm_observer_ring $p->{ring} size=4m;
    include @{[ repo_root() ]}/conf.d/llm_prices.conf;

    server {
        listen 127.0.0.1:$port;
        llm_observer on;

        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://127.0.0.1:$p->{up}{port};
        }
    }
EOF
    return ($ng, $port);
}

# a chat completion through port whose answer the upstream's "reply"
# scenario makes of %reply (text, finish, status; "request": more fields
# of the request's body); the call's id
sub reply_call {
    my ($port, $prompt, %reply) = @_;
    my $J = JSON::PP->new->ascii->canonical;
    my $more = delete $reply{request} // {};
    my $res = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'reply' ],
                     [ 'x-reply', $J->encode(\%reply) ],
                     [ 'Content-Type', 'application/json' ] ],
        body => $J->encode({ model => 'gpt-4o-mini', max_tokens => 200,
            messages => [ { role => 'user', content => $prompt } ],
            %$more }));
    return $res->{headers}{'x-llm-id'} // '';
}

sub ev_argv {
    my ($p, @args) = @_;
    return ($p->{ev}, '-c', $p->{evconf}, '-o', "ring_path=$p->{ring}",
        '-o', "pg_conninfo=$p->{pg}{conninfo}", '-o', 'sql_dir=' . repo_root() . '/sql',
        '-o', "log_file=$p->{evlog}",
        # /metrics only where a test asks for it: evaluators run side by side
        '-o', 'http_listen=',
        (map { ('-o', $_) } @{ $p->{ev_opts} }), @args);
}

sub ev {
    my ($p, @args) = @_;
    return run_cmd(ev_argv($p, @args));
}

sub ring_stat {
    my ($p) = @_;
    my ($rc, $out) = ev($p, 'ring-stat');
    die "ring-stat failed (exit $rc): $out\n" if $rc;
    return map { /^(\w+) (\S+)$/ ? ($1 => $2) : () } split /\n/, $out;
}

sub rows {
    my ($p, $where) = @_;
    my $out = psql($p->{pg}, "SELECT row_to_json(t) FROM llm_requests t"
        . " WHERE $where ORDER BY ts, id");
    my @rows;
    for my $l (split /\n/, $out) {
        my $h = json_decode($l);
        for my $k (keys %$h) {
            my $v = $h->{$k};
            if (JSON::PP::is_bool($v)) { $h->{$k} = $v ? 1 : 0 }
            elsif (defined $v && !ref $v) { utf8::encode($h->{$k}) }
        }
        push @rows, $h;
    }
    return @rows;
}

# nginx appends a record when it finishes a request, which may be a moment
# after the client saw the end of the response: drain until all are there
sub drain_ok {
    my ($p, $name, @ids) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $in = join ',', map { "'$_'" } grep { $_ =~ $UUID } @ids;
    my ($rc, $out);
    my $ok = wait_for(sub {
        ($rc, $out) = ev($p, 'drain');
        return 1 if $rc;
        return 1 if $in eq '';
        return psql($p->{pg}, "SELECT count(*) FROM llm_requests WHERE id IN ($in)") == @ids;
    }, timeout => 10, interval => 0.2);
    Test::More::is($rc, 0, "drain ($name)") or Test::More::diag($out);
    Test::More::ok($ok && $in ne '', "drain ($name): rows of all " . @ids . " calls are there");
}

sub drained_row {
    my ($p, $id) = @_;
    my $row;
    wait_for(sub {
        my ($rc, $out) = ev($p, 'drain');
        Test::More::diag("drain: exit $rc: $out") if $rc;
        ($row) = rows($p, "id = '$id'");
        return $row;
    }, timeout => 10, interval => 0.2);
    return $row // {};
}

sub ev_spawn {
    my ($p, @args) = @_;
    my @argv = ev_argv($p, @args);
    my $pid = fork;
    die "LLOPipeline: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null' or POSIX::_exit(126);
        open STDOUT, '>>', $p->{evout} or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        { no warnings 'exec'; exec { $argv[0] } @argv; }
        print STDERR "LLOPipeline: cannot exec $argv[0]: $!\n";
        POSIX::_exit(127);
    }
    $SPAWNED{$pid} = 1;
    return $pid;
}

sub ev_reap {
    my ($pid, %o) = @_;
    my $status;
    wait_for(sub {
        my $w = waitpid($pid, POSIX::WNOHANG());
        $status = $? if $w == $pid;
        return $w == $pid || $w == -1;
    }, timeout => $o{timeout} // 10);
    return undef unless defined $status;
    delete $SPAWNED{$pid};
    return $status & 127 ? 128 + ($status & 127) : $status >> 8;
}

# before LLOTest's END stops PostgreSQL and nginx
END {
    if ($$ == $OWNER) {
        local ($?, $!);
        for my $pid (keys %SPAWNED) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
    }
}

1;
