#!/usr/bin/perl

# The evaluator's /metrics (http_listen), against real nginx with the
# module, real PostgreSQL and a real Prometheus (the Debian package)
# started here on a free port, scraping every second: the text passes
# promtool check metrics; the counters equal what PostgreSQL holds; the
# ring's counters are nginx's own; db_up and db_write_errors_total follow
# a PostgreSQL outage; Prometheus scrapes it and answers the same numbers;
# bad http_listen values are refused by -t.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();

use LLOTest;
use LLOPipeline;

my $root = repo_root();
my $p    = pipeline_start();
my $pg   = $p->{pg};
my $dir  = $p->{dir};

sub count { psql($pg, "SELECT count(*) FROM $_[0]") }

# ------------------------------------------------------------ bad settings

for ([ 'foo', 'foo' ], [ '127.0.0.1:0', '127.0.0.1:0' ],
     [ '127.0.0.1:70000', '127.0.0.1:70000' ], [ 'localhost:80', 'localhost:80' ])
{
    my ($v) = @$_;
    my ($rc, $out, $err) = run_cmd_split(ev_argv($p, '-t', '-o', "http_listen=$v"));
    is($rc, 1, "http_listen=$v: -t exits 1");
    like($err, qr/invalid http_listen "\Q$v\E" \(expected an address and port/,
        "http_listen=$v: says why");
}

# --------------------------------------------------------- the live stack

my $mport = free_port();
push @{ $p->{ev_opts} }, "rules_file=$root/conf.d/llm-rules.conf",
    "http_listen=127.0.0.1:$mport", 'flush_interval=50ms';

my ($ng, $port) = observer_nginx($p);
my $pid = ev_spawn($p, 'run');

ok(wait_for(sub { LLOTest::_port_open($mport) }, timeout => 10),
    "/metrics listens on 127.0.0.1:$mport");

# the same port twice: the second evaluator says so and exits
{
    my ($rc, $out) = run_cmd(ev_argv($p, '-o', 'ring_path=' . "$dir/other.ring",
        '-o', 'log_file=stderr', 'run'));
    is($rc, 1, 'http_listen in use: run exits 1');
    like($out, qr/cannot listen on http_listen "127\.0\.0\.1:$mport"/,
        'http_listen in use: says so');
}

sub metrics {
    my $r = http_req(port => $mport, method => 'GET', path => '/metrics');
    return $r;
}

sub value {
    my ($text, $name) = @_;
    return $text =~ /^\Q$name\E (\S+)$/m ? $1 + 0 : undef;
}

my @ids = map { reply_call($port, "Question $_?",
        text => $_ % 4 ? "Answer $_ is fine, thanks for asking."
                       : "I can't help with that, number $_.") } 1 .. 19;
push @ids, reply_call($port, 'Question 20?', text => 'Overloaded.', status => 503);
ok(wait_for(sub { count("llm_evaluations WHERE evaluator = 'rules'") == 20 },
    timeout => 15), '20 calls stored and scored');

# the answers name their model; the error does not, so it goes by the
# request's
my $MODEL = 'gpt-4o-mini-2024-07-18';
my $L = qq(provider="openai",model="$MODEL",key="");
my $E = qq(provider="openai",model="gpt-4o-mini",key="");

# a metric summed over its series whose labels match
sub total {
    my ($text, $re) = @_;
    my $t = 0;
    $t += $1 while $text =~ /^$re (\S+)$/mg;
    return $t;
}

{
    my $r = metrics();
    is($r->{status}, 200, 'GET /metrics: 200');
    like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4},
        'GET /metrics: the text format 0.0.4');
    my $text = $r->{body};

    my $f = spew("$dir/metrics.txt", $text);
    my ($rc, $out, $err) = run_cmd_split('sh', '-c', "promtool check metrics < $f");
    is($rc, 0, 'promtool check metrics: clean') or diag("$out$err");

    is(value($text, 'llm_evaluator_rows_written_total'), count('llm_requests'),
        'rows_written_total = the rows in llm_requests');
    is(value($text, 'llm_evaluator_verdicts_total'),
        count("llm_evaluations WHERE evaluator = 'rules'"),
        'verdicts_total = the verdicts in llm_evaluations');
    is(value($text, 'llm_evaluator_verdicts_flagged_total'),
        count("llm_evaluations WHERE flagged"), 'verdicts_flagged_total');
    my %rs = ring_stat($p);
    is(value($text, 'llm_observer_ring_committed_records_total'), $rs{committed},
        'the ring\'s committed count, as ring-stat reads it');
    is(value($text, 'llm_observer_ring_capacity_bytes'), $rs{capacity},
        'the ring\'s capacity');
    is(value($text, 'llm_evaluator_db_up'), 1, 'db_up 1');
    ok(value($text, 'llm_evaluator_last_flush_timestamp_seconds') > time - 60,
        'last_flush_timestamp_seconds: a moment ago');
    like($text, qr/^llm_evaluator_build_info\{version="[0-9.]+"\} 1$/m, 'build_info');
    ok(defined value($text, 'process_cpu_seconds_total'),
        'process_cpu_seconds_total');
    for my $m (qw(process_resident_memory_bytes process_start_time_seconds
                  process_open_fds process_max_fds)) {
        ok(defined value($text, $m) && value($text, $m) > 0, "$m");
    }
    ok(abs(value($text, 'process_start_time_seconds') - time) < 120,
        'process_start_time_seconds: this run\'s start');
    unlike($text, qr/^[a-z_]+\{?[^\n]* (?:nan|inf)/mi, 'no NaN or Inf');

    my $n = () = $text =~ /^# TYPE /mg;
    my $h = () = $text =~ /^# HELP /mg;
    is($h, $n, "every family ($n) has # HELP and # TYPE");

    # the calls, by provider, model and key, from the rows stored
    is(value($text, qq(llm_gateway_requests_total{$L,status_class="2xx"})), 19,
        'requests_total 2xx: 19');
    is(value($text, qq(llm_gateway_requests_total{$E,status_class="5xx"})), 1,
        'requests_total 5xx: 1, by the model asked for');
    is(value($text, qq(llm_gateway_token_usage_total{$L,type="completion"})),
        psql($pg, 'SELECT sum(completion_tokens) FROM llm_requests'),
        'token_usage_total completion = the sum in llm_requests');
    is(total($text, qr/llm_gateway_request_duration_seconds_count\{provider="openai",model="[^"]+"\}/),
        20, 'request_duration_seconds: 20 observed');
    is(value($text, qq(llm_gateway_request_duration_seconds_bucket{provider="openai",model="$MODEL",le="+Inf"})),
        19, 'request_duration_seconds: +Inf bucket = count');
    is(value($text, 'llm_evaluator_evaluations_total{evaluator="rules",status="stored"}'),
        20, 'evaluations_total stored: 20');
    is(total($text, qr/llm_evaluator_evaluation_score_bucket\{evaluator="rules",model="[^"]+",le="3"\}/),
        count("llm_evaluations WHERE score <= 3"), 'evaluation_score le=3: the scores <= 3');
    is(value($text, qq(llm_evaluator_low_quality_total{model="gpt-4o-mini",label="upstream_error"})),
        1, 'low_quality_total: the 503, flagged as upstream_error');
    ok(value($text, 'llm_evaluator_batch_duration_seconds_count') > 0
        && value($text, 'llm_evaluator_batch_duration_seconds_count')
           == value($text, 'llm_evaluator_batch_duration_seconds_bucket{le="+Inf"}')
        && value($text, 'llm_evaluator_batch_duration_seconds_count')
           <= value($text, 'llm_evaluator_batches_total'),
        'batch_duration_seconds: one per committed batch');
    is(value($text, 'llm_evaluator_judge_requests_total{status="verdict"}'), 0,
        'judge_requests_total: there, 0 without a judge');
    ok(value($text, 'llm_evaluator_ingest_lag_seconds') > 0
        && value($text, 'llm_evaluator_ingest_lag_seconds') < 60,
        'ingest_lag_seconds: since the newest stored call');

    is(metrics_path('/nope')->{status}, 404, 'another path: 404');
    is(http_req(port => $mport, method => 'POST', path => '/metrics',
        body => 'x')->{status}, 405, 'POST /metrics: 405');
}

sub metrics_path {
    return http_req(port => $mport, method => 'GET', path => $_[0]);
}

# ------------------------------------------------------ a real Prometheus

my $pdir = "$dir/prometheus";
mkdir $pdir;
my $pport = free_port();
spew("$pdir/prometheus.yml", <<"EOF");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $root/conf.d/prometheus/rules/llm-observer.rules.yml
scrape_configs:
  - job_name: llm-evaluator
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOF

spawn("$pdir/prometheus.log", 'prometheus', "--config.file=$pdir/prometheus.yml",
    "--storage.tsdb.path=$pdir/data", "--web.listen-address=127.0.0.1:$pport");

sub promql {
    my ($q) = @_;
    my $esc = $q;
    $esc =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    # Prometheus may not listen yet: no answer is no result
    my $r = eval { http_req(port => $pport, method => 'GET',
        path => "/api/v1/query?query=$esc") } // {};
    my $j = eval { json_decode($r->{body} // '') } // {};
    return $j->{data}{result} // [];
}

ok(wait_for(sub { my $r = promql('up{job="llm-evaluator"}');
                  @$r && $r->[0]{value}[1] eq '1' }, timeout => 30),
    'Prometheus scrapes the evaluator: up 1');
{
    my $want = count('llm_requests');
    my $got;
    wait_for(sub { my $r = promql('llm_evaluator_rows_written_total');
                   $got = @$r ? $r->[0]{value}[1] : undef;
                   defined $got && $got == $want }, timeout => 10);
    is($got, $want, 'Prometheus: rows_written_total = the rows in PostgreSQL');
    my $r = promql('sum(llm_gateway_requests_total)');
    is(@$r ? $r->[0]{value}[1] : undef, $want, 'Prometheus: sum(requests_total) = the rows');
    $r = promql('histogram_quantile(0.95, sum by (le) '
        . '(llm_gateway_request_duration_seconds_bucket))');
    ok(@$r && $r->[0]{value}[1] > 0, 'Prometheus: a p95 latency');
}

# every PromQL query of the shipped dashboards, through this Prometheus
# on this traffic, returns data (but those listed, and why); their panels
# name the provisioned data sources
{
    my %empty = (
        "Refused by the keys' limits" => 'no llm_observer_key in this nginx',
    );
    my $prov = slurp("$root/grafana/provisioning/datasources/llm-observer.yml");
    my %uids = map { $_ => 1 } $prov =~ /^\s+uid: (\S+)$/mg;
    ok($uids{'llo-prometheus'} && $uids{'llo-postgres'},
        'provisioning: the data sources with their fixed uids');
    my %seen;
    for my $f (sort glob("$root/grafana/dashboards/*.json")) {
        my $name = $f =~ s{.*/}{}r;
        my $d = eval { JSON::PP->new->decode(slurp($f)) };
        ok($d && $d->{uid} && !$seen{ $d->{uid} }++, "$name: JSON, a uid of its own")
            or next;
        for my $panel (@{ $d->{panels} }) {
            for my $t (@{ $panel->{targets} }) {
                my $ds = $t->{datasource}{uid} // $panel->{datasource}{uid} // '';
                ok($uids{$ds}, "$name, $panel->{title}: a provisioned data source");
                my $q = $t->{expr};
                $q =~ s/\$__rate_interval/1m/g;
                $q =~ s/\$__range/1h/g;
                $q =~ s/\$(provider|model)\b/.*/g;
                my $r;
                wait_for(sub { $r = promql($q); @$r }, timeout => 10);
                if (my $why = $empty{ $panel->{title} }) {
                    is(scalar @$r, 0, "$name, $panel->{title}: empty ($why)");
                } else {
                    ok(scalar @$r, "$name, $panel->{title} ($t->{refId}): data")
                        or diag($q);
                }
            }
        }
    }
}

# the shipped alert rules, evaluated by Prometheus on these metrics: every
# one loads and evaluates without error
{
    my ($n, $bad) = (0, '');
    ok(wait_for(sub {
        my $r = eval { http_req(port => $pport, method => 'GET',
            path => '/api/v1/rules') } // {};
        my $j = eval { json_decode($r->{body} // '') } // {};
        my @rules = map { @{ $_->{rules} } } @{ $j->{data}{groups} // [] };
        $n = @rules;
        my @bad = grep { ($_->{health} // '') ne 'ok' } @rules;
        $bad = join '; ', map { "$_->{name}: " . ($_->{health} // '?') . ' '
            . ($_->{lastError} // '') } @bad;
        return $n >= 20 && !@bad;
    }, timeout => 15), "Prometheus evaluates the $n shipped alert rules, all healthy")
        or diag($bad);
}

# ------------------------------------------------------ PostgreSQL down

pg_stop_only($pg);
my @more = map { reply_call($port, "More $_?", text => "Fine $_.") } 1 .. 5;
ok(wait_for(sub { value(metrics()->{body}, 'llm_evaluator_db_up') == 0 },
    timeout => 15), 'PostgreSQL stopped: db_up 0');
pg_start_again($pg);
ok(wait_for(sub { value(metrics()->{body}, 'llm_evaluator_db_up') == 1
                  && count('llm_requests') == 25 }, timeout => 30),
    'PostgreSQL back: db_up 1, the 5 calls stored');
{
    my $text = metrics()->{body};
    is(value($text, 'llm_evaluator_rows_written_total'), 25,
        'after the outage: rows_written_total 25');
    cmp_ok(value($text, 'llm_evaluator_db_write_errors_total'), '>', 0,
        'db_write_errors_total counts the batch the outage failed');
}

kill 'TERM', $pid;
is(ev_reap($pid), 0, 'SIGTERM: exits 0');

# ------------------------------------------- a batch delivered again

# 3 calls wait in the ring; the ring as it is then is kept; a daemon
# stores them; then the kept ring is put back (as if that daemon had died
# after its COMMIT) and 2 more calls come: the next daemon reads 3 rows
# that are there already and 2 new ones, and counts the 2
{
    my @a = map { reply_call($port, "Again $_?", text => "Fine $_.") } 1 .. 3;
    wait_for(sub { my %s = ring_stat($p); $s{records_waiting} == 3 }, timeout => 10);
    my $copy = slurp($p->{ring});
    my $pid = ev_spawn($p, 'run');
    ok(wait_for(sub { count('llm_requests') == 28 }, timeout => 15), '3 more stored');
    kill 'TERM', $pid;
    is(ev_reap($pid), 0, 'that daemon exits 0');

    open my $fh, '+<:raw', $p->{ring} or die "$p->{ring}: $!";
    print $fh $copy;
    close $fh or die "$p->{ring}: $!";

    my @b = map { reply_call($port, "New $_?", text => "Fine new $_.") } 1 .. 2;
    $pid = ev_spawn($p, 'run');
    ok(wait_for(sub { count('llm_requests') == 30 }, timeout => 15),
        'the 3 again and 2 new: 30 rows');
    my $text;
    wait_for(sub { $text = metrics()->{body} // '';
                   defined value($text, 'llm_evaluator_rows_duplicate_total')
                   && value($text, 'llm_evaluator_rows_duplicate_total') == 3 },
        timeout => 10);
    is(value($text, 'llm_evaluator_rows_duplicate_total'), 3, 'the 3 are duplicates');
    is(value($text, qq(llm_gateway_requests_total{$L,status_class="2xx"})), 2,
        'requests_total counts the 2 new, not the 3 again');
    is(value($text, 'llm_evaluator_evaluations_total{evaluator="rules",status="stored"}'),
        2, 'evaluations_total: 2');
    kill 'TERM', $pid;
    is(ev_reap($pid), 0, 'SIGTERM: exits 0');
}

nginx_stop($ng);
error_log_ok($ng);

done_testing();
