#!/usr/bin/perl

# The evaluator's POST /alerts, Alertmanager's webhook receiver, against
# real PostgreSQL: a payload's alerts become llm_alerts rows, a
# notification sent again is stored once, a resolution is a second row of
# the alert's history; payloads that are not Alertmanager's get a 400
# naming the field, bodies over 1 MiB a 413, GET a 405.  Then a real
# Alertmanager (Debian's) with the shipped routing, its webhook pointed at
# this evaluator: an alert given to it reaches llm_alerts, once.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP ();

use LLOTest;
use LLOPipeline;

my $root = repo_root();
my $p    = pipeline_start(upstream => 0);
my $pg   = $p->{pg};
my $dir  = $p->{dir};

sub count { psql($pg, "SELECT count(*) FROM $_[0]") }

my $mport = free_port();
my $TOKEN = 'history-token-0123456789';
my $tokfile = spew("$dir/api.token", "$TOKEN\n");
push @{ $p->{ev_opts} }, "http_listen=127.0.0.1:$mport", "api_token_file=$tokfile";

# the evaluator waits for its ring; /alerts does not need one
my $pid = ev_spawn($p, 'run');
ok(wait_for(sub { LLOTest::_port_open($mport) }, timeout => 10),
    "the evaluator listens on 127.0.0.1:$mport");

my $J = JSON::PP->new->canonical;

sub post {
    my ($body) = @_;
    return http_req(port => $mport, method => 'POST', path => '/alerts',
        headers => [ [ 'Content-Type', 'application/json' ] ], body => $body);
}

my $alert = {
    status => 'firing',
    labels => { alertname => 'LLMEvaluatorDBDown', severity => 'critical',
                instance => 'ev' },
    annotations => { summary => 'The evaluator is not connected to PostgreSQL' },
    startsAt => '2026-12-03T10:00:00.000Z',
    endsAt => '0001-01-01T00:00:00Z',
    generatorURL => 'http://prometheus/graph?g0.expr=x',
    fingerprint => 'c0ffee0123456789',
};
my $payload = { version => '4', status => 'firing', receiver => 'evaluator',
    groupKey => '{}:{alertname="LLMEvaluatorDBDown"}', alerts => [ $alert ] };

{
    my $r = post($J->encode($payload));
    is($r->{status}, 200, 'a notification: 200');
    is($r->{body}, qq({"stored":1}\n), 'a notification: 1 stored');
    my $row = json_decode(psql($pg, 'SELECT row_to_json(t) FROM (SELECT name, '
        . 'severity, status, ends_at, labels, annotations, receiver, '
        . "starts_at = '2026-12-03T10:00:00Z' AS start_ok FROM llm_alerts) t"));
    is_deeply([ @$row{qw(name severity status ends_at receiver)} ],
        [ 'LLMEvaluatorDBDown', 'critical', 'firing', undef, 'evaluator' ],
        'the row: name, severity, status, not ended, receiver');
    ok($row->{start_ok}, 'the row: starts_at');
    is($row->{labels}{instance}, 'ev', 'the row: its labels');
    like($row->{annotations}{summary}, qr/not connected/, 'the row: its annotations');

    $r = post($J->encode($payload));
    is($r->{body}, qq({"stored":0}\n), 'the same again: none stored');
    is(count('llm_alerts'), 1, 'the same again: one row');

    my %res = (%$alert, status => 'resolved', endsAt => '2026-12-03T10:05:00Z');
    $r = post($J->encode({ %$payload, status => 'resolved', alerts => [ \%res ] }));
    is($r->{body}, qq({"stored":1}\n), 'resolved: stored');
    is(count("llm_alerts WHERE status = 'resolved' AND ends_at IS NOT NULL"), 1,
        'resolved: a second row, with its end');
}

for ([ 'not JSON', '{"alerts": [', qr/^\{"error":"the body is not JSON: / ],
     [ 'no alerts', '{"status":"firing"}', qr/alerts: an array is required/ ],
     [ 'a bad status', $J->encode({ alerts => [ { %$alert, status => 'maybe' } ] }),
       qr/alerts\[0\]\.status: \\"maybe\\" is not firing or resolved/ ],
     [ 'no alertname', $J->encode({ alerts => [ { %$alert, labels => {} } ] }),
       qr/alerts\[0\]\.labels\.alertname: required/ ],
     [ 'a bad time', $J->encode({ alerts => [ { %$alert, fingerprint => 'x1',
         startsAt => 'not a time' } ] }), qr/invalid input syntax for type timestamp/ ])
{
    my ($name, $body, $want) = @$_;
    my $r = post($body);
    is($r->{status}, 400, "$name: 400");
    like($r->{body}, $want, "$name: says what is wrong");
}

{
    spew("$dir/big", 'x' x (1024 * 1024 + 1));
    my ($rc, $out) = run_cmd('curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
        '--data-binary', "\@$dir/big", "http://127.0.0.1:$mport/alerts");
    is($out, '413', 'over 1 MiB: 413');
    my $r;
    $r = http_req(port => $mport, method => 'GET', path => '/alerts');
    is($r->{status}, 405, 'GET /alerts: 405');
    like($r->{headers}{allow} // '', qr/^POST$/, 'GET /alerts: Allow: POST');
    is(count('llm_alerts'), 2, 'nothing refused was stored');
}

# a real Alertmanager, the shipped routing, the webhook to this evaluator
my $am = "$dir/alertmanager.yml";
my $text = slurp("$root/conf.d/alertmanager/alertmanager.yml");
$text =~ s{http://127\.0\.0\.1:9188/alerts}{http://127.0.0.1:$mport/alerts}
    or die 'the shipped webhook URL is gone';
$text =~ s/group_wait: 30s/group_wait: 1s/ or die 'group_wait is gone';
spew($am, $text);
my $amport = free_port();
spawn("$dir/alertmanager.log", 'prometheus-alertmanager', "--config.file=$am",
    "--storage.path=$dir/am-data", "--web.listen-address=127.0.0.1:$amport",
    '--cluster.listen-address=');
ok(wait_for(sub { LLOTest::_port_open($amport) }, timeout => 20),
    'Alertmanager runs');

{
    my ($rc, $out) = run_cmd('amtool', 'alert', 'add', 'LLMObserverRingDrops',
        'severity=critical', 'instance=nginx-1', '--annotation=summary=test',
        "--alertmanager.url=http://127.0.0.1:$amport");
    is($rc, 0, 'amtool alert add') or diag($out);
    ok(wait_for(sub { count("llm_alerts WHERE name = 'LLMObserverRingDrops'") >= 1 },
        timeout => 20), 'the alert reaches llm_alerts through Alertmanager')
        or diag(slurp("$dir/alertmanager.log"));
    sleep 2;
    is(count("llm_alerts WHERE name = 'LLMObserverRingDrops'"), 1, 'once');
    is(psql($pg, "SELECT receiver FROM llm_alerts WHERE name = 'LLMObserverRingDrops'"),
        'evaluator', 'by the evaluator receiver');
}

# ---------------------------------------------------- GET /alerts/history

sub history {
    my ($query, $token) = @_;
    return http_req(port => $mport, method => 'GET',
        path => '/alerts/history' . ($query // ''),
        headers => defined $token ? [ [ 'Authorization', "Bearer $token" ] ] : []);
}

is(history('')->{status}, 401, 'history without a token: 401');
is(history('', 'wrong')->{status}, 401, 'history with a wrong token: 401');
{
    my $r = history('', $TOKEN);
    is($r->{status}, 200, 'history: 200');
    my $j = json_decode($r->{body});
    is($j->{total}, 3, 'history: all 3 stored');
    is($j->{alerts}[0]{name}, 'LLMObserverRingDrops', 'history: newest first');
    $j = json_decode(history('?status=resolved', $TOKEN)->{body});
    is("$j->{total} $j->{alerts}[0]{status}", '1 resolved', 'history: status=resolved');
    $j = json_decode(history('?severity=critical&page_size=1&page=2', $TOKEN)->{body});
    is(scalar @{ $j->{alerts} }, 1, 'history: page 2 of 1 each');
    is("$j->{total} $j->{page} $j->{page_size}", '3 2 1', 'history: total, page, page_size');
    $j = json_decode(history('?page=9', $TOKEN)->{body});
    is_deeply($j->{alerts}, [], 'history: past the end, no alerts');
}
for ([ '?page_size=0', qr/page_size: an integer 1\.\.500/ ],
     [ '?page=x', qr/page: an integer/ ],
     [ '?status=maybe', qr/status: firing or resolved/ ],
     [ "?severity=critical'%20OR%201=1--", qr/severity: lowercase letters/ ],
     [ '?sort=name', qr/unknown parameter \\"sort\\"/ ])
{
    my ($q, $want) = @$_;
    my $r = history($q, $TOKEN);
    is($r->{status}, 400, "history$q: 400");
    like($r->{body}, $want, "history$q: says why");
}
unlike(slurp($p->{evlog}), qr/\Q$TOKEN\E/, 'the token is in no log');

kill 'TERM', $pid;
is(ev_reap($pid), 0, 'SIGTERM: exits 0');

done_testing();
