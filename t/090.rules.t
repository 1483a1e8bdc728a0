#!/usr/bin/perl

# llm-evaluator rules check: the shipped rules file passes and says its
# rules and version; a broken one fails with file:line and why; the
# version does not move with comments.  (The rule kinds and the score are
# unit-tested in t/unit/test_rules.c.)

use strict;
use warnings;

use Test::More;

use LLOTest;
use LLOPipeline;

my $root = repo_root();
my $dir = tempdir_world();

{
    my ($rc, $out, $err) = run_cmd_split(evaluator_path(), 'rules', 'check',
        "$root/conf.d/llm-rules.conf");
    is($rc, 0, 'the shipped rules file: exits 0') or diag($err);
    like($out, qr/^rules file "\Q$root\E\/conf\.d\/llm-rules\.conf": 11 rules, version [0-9a-f]{16}\n/,
         'the shipped rules file: its rules and version');
    like($out, qr/^  refusal$/m, 'the shipped rules file: names its rules');
    like($out, qr/^  invalid_json$/m,
         'the shipped rules file: has an invalid_json rule');
}

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$dir/$name" or die $!;
    print $fh $text;
    close $fh;
    return "$dir/$name";
}

{
    my $f = write_file('bad.conf', "rule a {\n    kind truncated;\n"
        . "    weight 9;\n}\n");
    my ($rc, $out, $err) = run_cmd_split(evaluator_path(), 'rules', 'check',
        $f);
    is($rc, 1, 'a bad value: exits 1');
    is($err, "llm-evaluator: $f:3: invalid value \"9\" for weight in rule "
        . "\"a\" (expected 0..4)\n", 'a bad value: file:line and why');
    is($out, '', 'a bad value: nothing on stdout');

    ($rc, $out, $err) = run_cmd_split(evaluator_path(), 'rules', 'check',
        "$dir/none.conf");
    is($rc, 1, 'no such file: exits 1');
    like($err, qr/cannot open rules file "\Q$dir\E\/none\.conf": No such file/,
         'no such file: says so');

    ($rc, $out, $err) = run_cmd_split(evaluator_path(), 'rules');
    is($rc, 1, 'no subcommand: exits 1');
    like($err, qr/usage: llm-evaluator rules check FILE/, 'no subcommand: usage');
}

{
    my $a = write_file('a.conf', "rule x { kind truncated; }\n");
    my $b = write_file('b.conf', "# the same rule\nrule x {\n  kind truncated;"
        . "  # cut or length\n}\n");
    my (undef, $oa) = run_cmd_split(evaluator_path(), 'rules', 'check', $a);
    my (undef, $ob) = run_cmd_split(evaluator_path(), 'rules', 'check', $b);
    my ($va) = $oa =~ /version ([0-9a-f]{16})/;
    my ($vb) = $ob =~ /version ([0-9a-f]{16})/;
    ok(defined $va && defined $vb && $va eq $vb,
       'comments and layout do not change the version');
}

done_testing;
