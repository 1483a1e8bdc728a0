#!/usr/bin/perl

# The shipped Prometheus configuration and alert rules: promtool checks
# the config and the rules; promtool's unit tests pass; and every alert of
# the rules file is shown by those tests both to fire (an alert_rule_test
# with exp_alerts) and not to fire (one without), so no rule ships
# untested.  A rule's series made to fire is in conf.d/prometheus/tests/.

use strict;
use warnings;

use Test::More;

use LLOTest;

my $root  = repo_root();
my $dir   = "$root/conf.d/prometheus";
my $rules = "$dir/rules/llm-observer.rules.yml";
my $tests = "$dir/tests/llm-observer.test.yml";

for my $tool (qw(promtool)) {
    my ($rc) = run_cmd('sh', '-c', "command -v $tool");
    is($rc, 0, "$tool is installed (make deps: prometheus)")
        or BAIL_OUT("$tool is missing");
}

{
    my ($rc, $out) = run_cmd('promtool', 'check', 'config', "$dir/prometheus.yml");
    is($rc, 0, 'promtool check config prometheus.yml') or diag($out);
    ($rc, $out) = run_cmd('promtool', 'check', 'rules', $rules);
    is($rc, 0, 'promtool check rules') or diag($out);
    like($out, qr/SUCCESS: (\d+) rules found/, 'the rules load');
}

{
    my ($rc, $out) = run_cmd('sh', '-c', "cd $dir/tests && promtool test rules "
        . 'llm-observer.test.yml');
    is($rc, 0, 'promtool test rules: every case passes') or diag($out);
}

# which alerts the rules define, and how the tests exercise each
my @alerts = slurp($rules) =~ /^\s+- alert: (\w+)$/mg;
cmp_ok(scalar @alerts, '>=', 20, scalar(@alerts) . ' alerts defined');

my $t = slurp($tests);
my (%fires, %quiet);

# "- {eval_time: Nm, alertname: X}": must not fire
$quiet{$1}++ while $t =~ /^\s+- \{eval_time: \w+, alertname: (\w+)\}$/mg;

# "alertname: X" then "exp_alerts:" with an entry: must fire
$fires{$1}++ while $t =~ /^\s+alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:/mg;

for my $a (@alerts) {
    ok($fires{$a}, "$a: a test where it fires");
    ok($quiet{$a}, "$a: a test where it does not");
}

my %known = map { $_ => 1 } @alerts;
is_deeply([ grep { !$known{$_} } sort(keys %fires, keys %quiet) ], [],
    'the tests name no alert the rules do not have');

done_testing();
