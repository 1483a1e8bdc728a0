#!/usr/bin/perl

# The shipped Alertmanager configuration: amtool checks it; its routes
# send every alert to the evaluator and, by severity and team, to the
# on-call email and Slack, the ml team's Slack or Discord; its inhibit
# rules are there; no secret is written in it; and a real Alertmanager
# (Debian's) started here on a free port loads it and takes an alert.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);

use LLOTest;

my $root = repo_root();
my $conf = "$root/conf.d/alertmanager/alertmanager.yml";
my $dir  = tempdir_world();

{
    my ($rc, $out) = run_cmd('amtool', 'check-config', $conf);
    is($rc, 0, 'amtool check-config') or diag($out);
    like($out, qr/4 inhibit rules/, 'the inhibit rules load');
    like($out, qr/5 receivers/, 'the receivers load');
}

for ([ 'severity=critical', 'evaluator,oncall-email,slack-critical' ],
     [ 'severity=critical team=ml', 'evaluator,oncall-email,slack-critical' ],
     [ 'severity=warning team=ml', 'evaluator,ml-slack' ],
     [ 'severity=warning', 'evaluator,discord-warnings' ],
     [ 'severity=info', 'evaluator' ])
{
    my ($labels, $want) = @$_;
    my ($rc, $out, $err) = run_cmd_split('amtool', 'config', 'routes', 'test',
        "--config.file=$conf", split / /, $labels);
    is($rc, 0, "route of $labels: amtool exits 0") or diag($err);
    is($out =~ s/\s+\z//r, $want, "route of $labels: $want");
}

{
    my $text = slurp($conf);
    unlike($text, qr{hooks\.slack\.com|discord(?:app)?\.com/api/webhooks}i,
        'no real webhook URL in the file');
    my @files = $text =~ /_file: (\S+)/g;
    ok(@files >= 3, 'the secrets are read from files: ' . join(' ', @files));
}

# a real Alertmanager with it, no cluster, on a free port
my $port = free_port();
spawn("$dir/alertmanager.log", 'prometheus-alertmanager', "--config.file=$conf",
    "--storage.path=$dir/data", "--web.listen-address=127.0.0.1:$port",
    '--cluster.listen-address=');

ok(wait_for(sub { my ($rc) = run_cmd('amtool', 'config', 'show',
        "--alertmanager.url=http://127.0.0.1:$port"); $rc == 0 }, timeout => 20),
    'Alertmanager runs with the shipped configuration')
    or diag(slurp("$dir/alertmanager.log"));

{
    my ($rc, $out) = run_cmd('amtool', 'alert', 'add', 'LLMEvaluatorDBDown',
        'severity=critical', 'instance=ev',
        "--alertmanager.url=http://127.0.0.1:$port");
    is($rc, 0, 'amtool alert add') or diag($out);
    my $seen;
    ok(wait_for(sub {
        (my $r, $seen) = run_cmd('amtool', 'alert', 'query', 'LLMEvaluatorDBDown',
            "--alertmanager.url=http://127.0.0.1:$port");
        return $seen =~ /LLMEvaluatorDBDown/;
    }, timeout => 10), 'the alert is there') or diag($seen);
}

done_testing();
