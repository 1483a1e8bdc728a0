#!/usr/bin/perl

# Verdicts at ingest, against real nginx with the module, the fake
# upstream and real PostgreSQL: every call stored gets exactly one rules
# verdict, written in the transaction of its row, with the score, label,
# flag and fired rules the shipped rules file gives known answers (good,
# refused, truncated, PII, upstream error, JSON asked and not given); the same text twice is read
# once (rules cache); redact keeps PII out of the stored texts but not
# from the rules; a batch delivered again gives no second verdict,
# even under a new rules version; -t and SIGHUP check the rules file
# (file:line), a bad one on SIGHUP keeps the old rules; kill -9 of the
# daemon under load leaves one verdict per row.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();

use LLOTest;
use LLOPipeline;

my $root  = repo_root();
my $RULES = "$root/conf.d/llm-rules.conf";

my $p    = pipeline_start();
my $pg   = $p->{pg};
my $dir  = $p->{dir};
my $ring = $p->{ring};
my $upp  = $p->{up}{port};
my $EV   = $p->{ev};

push @{ $p->{ev_opts} }, "rules_file=$RULES", 'flag_below=3';

sub version_of {
    my ($file) = @_;
    my ($rc, $out) = run_cmd($EV, 'rules', 'check', $file);
    return $out =~ /version ([0-9a-f]{16})/ ? $1 : "(rules check: $out)";
}

my $V1 = version_of($RULES);
like($V1, qr/^[0-9a-f]{16}$/, "the shipped rules' version: $V1");

my ($ng, $port) = observer_nginx($p);

my $JH = JSON::PP->new->ascii->canonical;

# a chat completion whose answer is the upstream's reply as dictated
sub call {
    my (%r) = @_;
    my $prompt = delete $r{prompt} // 'What is the capital of France?';
    return reply_call($port, $prompt, %r);
}

sub verdicts {
    my ($where) = @_;
    my %v;
    for my $l (split /\n/, psql($pg, "SELECT row_to_json(t) FROM (SELECT "
            . "id, evaluator, version, score, label, flagged, details "
            . "FROM llm_evaluations WHERE $where) t")) {
        my $h = json_decode($l);
        $h->{flagged} = $h->{flagged} ? 1 : 0;
        $h->{fired} = join ' ', map { $_->{rule} } @{ $h->{details}{fired} };
        push @{ $v{ $h->{id} } }, $h;
    }
    return \%v;
}

sub count { psql($pg, "SELECT count(*) FROM $_[0]") }

# ----------------------------------------------------------- known answers

my $good = 'Paris is the capital of France, and it sits on the Seine.';

my %case = (
    good      => { text => $good },
    good2     => { text => $good },
    refused   => { text => "I'm sorry, but I can't help with that request." },
    truncated => { text => 'Paris is the capital of France and it has a long '
                   . 'history that began', finish => 'length' },
    pii       => { text => 'You can reach the mayor at jane.doe@example.com '
                   . 'or on +33 1 42 76 40 40 during office hours.' },
    error     => { text => 'The server had an error while processing your '
                   . 'request.', status => 500 },
    notjson   => { text => 'Sure! The city is Paris and it is 21 degrees.',
                   request => { response_format => { type => 'json_schema',
                       json_schema => { name => 'w', schema => { type => 'object',
                           required => [ 'city', 'temp' ] } } } } },
    json      => { text => "```json\n{\"city\": \"Paris\", \"temp\": 21}\n```",
                   request => { response_format => { type => 'json_schema',
                       json_schema => { name => 'w', schema => { type => 'object',
                           required => [ 'city', 'temp' ] } } } } },
);

# (score, label, flagged, fired rules in file order) by conf.d/llm-rules.conf
my %want = (
    good      => [ 5, undef, 0, '' ],
    good2     => [ 5, undef, 0, '' ],
    refused   => [ 3, 'refusal', 0, 'refusal' ],
    truncated => [ 3, 'truncated', 0, 'truncated' ],
    pii       => [ 2, 'pii_leak', 1, 'pii_leak' ],
    error     => [ 1, 'upstream_error', 1, 'upstream_error' ],
    notjson   => [ 3, 'invalid_json', 0, 'invalid_json' ],
    json      => [ 5, undef, 0, '' ],
);

my %id;
for my $name (sort keys %case) {
    $id{$name} = call(%{ $case{$name} });
    like($id{$name}, $UUID, "$name: the call has an id");
}

drain_ok($p, 'known answers', values %id);

my $v = verdicts('true');
for my $name (sort keys %case) {
    my $list = $v->{ $id{$name} } // [];
    is(scalar @$list, 1, "$name: one verdict");
    my $x = $list->[0] // {};
    is_deeply([ $x->{score}, $x->{label}, $x->{flagged}, $x->{fired} ],
        $want{$name}, "$name: score, label, flagged, fired rules")
        or diag(JSON::PP->new->canonical->encode($x));
    is("$x->{evaluator} $x->{version}", "rules $V1",
        "$name: evaluator rules, the rules' version");
}

{
    my $x = $v->{ $id{refused} }[0]{details}{fired}[0] // {};
    is_deeply($x, { rule => 'refusal', kind => 'refusal',
        severity => 'warning', weight => 2 }, 'details: the fired rule as written');
}

is(psql($pg, 'SELECT count(*) FROM llm_requests r JOIN llm_evaluations e '
        . 'USING (id, ts)'), scalar keys %case,
    'every verdict joins its call USING (id, ts)');

{
    my ($rc, $out) = ev($p, 'drain');
    like($out, qr/^rules_cache_hits 0\n/m, 'a new drain: no cache hit yet');
}

# the same good text again, in one batch: read once
{
    my @ids = map { call(text => $good) } 1 .. 3;
    my ($rc, $out);
    wait_for(sub {
        ($rc, $out) = ev($p, 'drain');
        return $out =~ /^verdicts 3$/m;
    }, timeout => 10, interval => 0.2);
    like($out, qr/^verdicts 3\n/m, 'the same text thrice: 3 verdicts');
    like($out, qr/^rules_cache_hits 2\nrules_cache_misses 1\n/m,
        'the same text thrice: read once, 2 cache hits');
    is(count("llm_evaluations WHERE id IN ('" . join("','", @ids)
            . "') AND score = 5"), 3, 'the same text thrice: 3 good verdicts');
}

# ---------------------------------------------------------- redaction

{
    my $id = call(text => 'Write to jane.doe@example.com or call +33 1 42 76 40 40.',
        prompt => 'How do I reach jane.doe@example.com?');
    local $p->{ev_opts} = [ @{ $p->{ev_opts} }, 'redact=pii' ];
    drain_ok($p, 'redact=pii', $id);
    my ($row) = rows($p, "id = '$id'");
    is($row->{response_text}, 'Write to [EMAIL] or call [PHONE].',
        'redact=pii: the stored response');
    is($row->{prompt_text}, 'How do I reach [EMAIL]?', 'redact=pii: the stored prompt');
    is($row->{redacted}, 'email=2 phone=1', 'redact=pii: the row says what went');
    is(psql($pg, "SELECT label FROM llm_evaluations WHERE id = '$id'"), 'pii_leak',
        'redact=pii: the rules saw the text as observed');
    is(count("llm_requests WHERE redacted IS NULL"), count('llm_requests') - 1,
        'redact off: redacted is NULL');
}

# ------------------------------------------- delivered again, rules changed

{
    my $id = call(text => "I cannot assist with that.");
    wait_for(sub { my %s = ring_stat($p); $s{records_waiting} == 1 },
        timeout => 10);
    my $copy = slurp($ring);
    my ($rc, $out) = ev($p, 'drain');
    like($out, qr/^inserted 1\n/m, 'a batch: its row inserted');

    # rules changed, then the batch again (a consumer that died after
    # COMMIT, before it moved rpos)
    my $r2 = spew("$dir/rules2.conf", slurp($RULES)
        . "\nrule always { kind regex; pattern \".\"; on response;"
        . " severity info; weight 1; }\n");
    my $V2 = version_of($r2);
    isnt($V2, $V1, 'a new rule: a new version');
    {
        open my $fh, '+<:raw', $ring or die "$ring: $!";
        print $fh $copy;
        close $fh or die "$ring: $!";
    }
    {
        local $p->{ev_opts} = [ @{ $p->{ev_opts} }, "rules_file=$r2" ];
        ($rc, $out) = ev($p, 'drain');
    }
    like($out, qr/^inserted 0\nduplicates 1\n/m, 'again: the row is a duplicate');
    my $l = verdicts("id = '$id'")->{$id} // [];
    is(scalar @$l, 1, 'again, under new rules: still one verdict');
    is($l->[0]{version}, $V1, 'again: the verdict of the rules that stored it');
}

# ------------------------------------- rules test, --since, and rescore

{
    my $jl = spew("$dir/records.jsonl", join("\n",
        $JH->encode({ id => 'ok', response => $good, status => 200 }),
        $JH->encode({ id => 'no', response => "I can't help with that." }),
        '',
        $JH->encode({ id => 'cut', response => $good, finish_reason => 'length',
            max_tokens => 20, completion_tokens => 20 })) . "\n");
    my ($rc, $out, $err) = run_cmd_split($EV, 'rules', 'test', $RULES, $jl);
    is($rc, 0, 'rules test FILE RECORDS: exits 0') or diag($err);
    like($out, qr/^\Q$jl\E:1 \(ok\): score 5, no rule fired\n/m, 'rules test: a good record');
    like($out, qr/^\Q$jl\E:2 \(no\): score 3, label refusal\n(?:  .*\n){4}  fired       refusal  /m,
        'rules test: a refusal, every rule listed');
    like($out, qr/^\Q$jl\E:4 \(cut\): score 3, label truncated\n/m,
        'rules test: line numbers count blank lines');
    like($out, qr/^3 records: score 5: 1, 4: 0, 3: 2, 2: 0, 1: 0; 0 flagged/m,
        'rules test: the summary');

    spew($jl, qq({"id":"x","respons":"typo"}\n));
    ($rc, $out, $err) = run_cmd_split($EV, 'rules', 'test', $RULES, $jl);
    is($rc, 1, 'rules test, an unknown field: exits 1');
    is($err, "llm-evaluator: $jl:1: unknown field \"respons\"\n",
        'rules test, an unknown field: file:line and the field');

    # the rules of rules2.conf add "always" (fires on every response text)
    my $n = count('llm_requests');
    ($rc, $out, $err) = run_cmd_split(ev_argv($p, 'rules', 'test',
        "$dir/rules2.conf", '--since', '1h'));
    is($rc, 0, 'rules test --since: exits 0') or diag($err);
    my @c = $out =~ /^$n calls: (\d+) would change score \((\d+) lower, (\d+) higher\), 0 had no verdict, 0 were scored by this version$/m;
    ok(@c && $c[0] == $c[1] + $c[2] && $c[1] > 0,
        "rules test --since: the $n stored calls compared")
        or diag($out);
    # the redacted call's stored text has no PII left: it would score
    # higher, the one that goes up
    is($c[2], 1, 'rules test --since: scored as stored (the redacted call)');
    my $texts = count("llm_requests WHERE response_text <> ''");
    like($out, qr/^  always\s+0\s+$texts$/m,
        "rules test --since: the new rule fires on each of the $texts with text");
    like($out, qr/^  refusal\s+(\d+)\s+\1$/m, 'rules test --since: refusal as before');

    ($rc, $out, $err) = run_cmd_split(ev_argv($p, 'rules', 'test',
        "$dir/rules2.conf", '--since', 'yesterday'));
    is($rc, 1, 'rules test --since yesterday: exits 1');
    like($err, qr/invalid duration "yesterday"/, 'rules test --since yesterday: says why');

    local $p->{ev_opts} = [ @{ $p->{ev_opts} }, "rules_file=$dir/rules2.conf" ];
    my $V2 = version_of("$dir/rules2.conf");
    ($rc, $out, $err) = run_cmd_split(ev_argv($p, 'rescore', '--since', '1h'));
    is($rc, 0, 'rescore: exits 0') or diag($err);
    like($out, qr/^rescore: $n calls of the last 1h, $n scored with rules version $V2, $n new verdicts; 0 had one of this version$/m,
        'rescore: every call scored by the new version');
    is(count("llm_evaluations WHERE version = '$V2'"), $n, 'rescore: new verdicts');
    is(count("llm_evaluations WHERE version = '$V1'"), $n, 'rescore: the old ones stay');
    ($rc, $out) = run_cmd_split(ev_argv($p, 'rescore', '--since', '1h'));
    like($out, qr/0 scored with rules version $V2, 0 new verdicts; $n had one of this version/,
        'rescore again: nothing new');
    psql($pg, "DELETE FROM llm_evaluations WHERE version = '$V2'");
}

# --------------------------------------------------- -t, SIGHUP, bad rules

my $bad = spew("$dir/bad.conf", "rule a {\n    kind refusal;\n"
    . "    languages en xx;\n}\n");
{
    my ($rc, $out, $err) = run_cmd_split(ev_argv($p, '-t', '-o',
        "rules_file=$bad"));
    is($rc, 1, '-t with a bad rules file: exits 1');
    like($err, qr/^llm-evaluator: \Q$bad\E:3: /m, '-t: the rules file:line');
}

{
    my $live = spew("$dir/live.conf", slurp($RULES));
    my @opts = @{ $p->{ev_opts} };
    $p->{ev_opts} = [ (grep { !/^rules_file=/ } @opts),
        "rules_file=$live" ];
    my $pid = ev_spawn($p, 'run');
    my $a = call(text => 'Fine.');
    ok(wait_for(sub { count("llm_evaluations WHERE id = '$a'") == 1 },
        timeout => 10), 'run: the call has its verdict');

    spew($live, slurp($bad));
    kill 'HUP', $pid;
    ok(wait_for(sub { slurp($p->{evlog}) =~ /reload failed, keeping the old configuration: \Q$live\E:3: / },
        timeout => 10), 'SIGHUP, bad rules: the old rules kept, file:line logged');
    my $b = call(text => "I can't help with that.");
    ok(wait_for(sub { count("llm_evaluations WHERE id = '$b'") == 1 },
        timeout => 10), 'SIGHUP, bad rules: calls still scored');
    is(psql($pg, "SELECT version || ' ' || label FROM llm_evaluations WHERE id = '$b'"),
        "$V1 refusal", 'SIGHUP, bad rules: by the old rules');

    spew($live, slurp("$dir/rules2.conf"));
    kill 'HUP', $pid;
    ok(wait_for(sub { slurp($p->{evlog}) =~ /rules: \Q${\ version_of($live)}\E/ },
        timeout => 10), 'SIGHUP, good rules: the new version logged');
    my $c = call(text => 'Fine again, thanks for asking.');
    ok(wait_for(sub { count("llm_evaluations WHERE id = '$c'") == 1 },
        timeout => 10), 'SIGHUP, good rules: the call is scored');
    is(psql($pg, "SELECT version || ' ' || label FROM llm_evaluations WHERE id = '$c'"),
        version_of($live) . ' always', 'SIGHUP, good rules: by the new rules');

    kill 'TERM', $pid;
    is(ev_reap($pid), 0, 'SIGTERM: exits 0');
    like(slurp($p->{evlog}), qr/exiting: \d+ verdicts, \d+ flagged, 0 dropped; rules cache \d+ hits/,
        'exit: the verdict counters logged');
    $p->{ev_opts} = \@opts;
}

# ------------------------------------------------- kill -9 under traffic

{
    local $p->{ev_opts} = [ @{ $p->{ev_opts} }, 'batch_size=7',
        'flush_interval=5ms' ];
    my $pid = ev_spawn($p, 'run');
    my $sent = 0;
    my $kills = 0;
    my $t0 = time;
    while ($kills < 5) {
        for (1 .. 4) {
            my $i = $sent++;
            call(text => ($i % 3 ? "Answer number $i is fine, thanks."
                : "I can't help with that, number $i."));
        }
        if (time - $t0 > 0.3 * ($kills + 1)) {
            kill 'KILL', $pid;
            ev_reap($pid);
            $kills++;
            $pid = ev_spawn($p, 'run');
        }
    }
    ok(wait_for(sub {
        my %s = ring_stat($p);
        $s{records_waiting} == 0
    }, timeout => 20), "kill -9 x$kills while $sent calls were sent: the ring drains");
    kill 'TERM', $pid;
    is(ev_reap($pid), 0, 'kill -9: the last daemon exits 0 on SIGTERM');

    is(count('llm_requests r WHERE NOT EXISTS (SELECT 1 FROM llm_evaluations e '
            . "WHERE e.id = r.id AND e.ts = r.ts AND e.evaluator = 'rules')"), 0,
        'kill -9: every row has its rules verdict');
    is(count("(SELECT id FROM llm_evaluations WHERE evaluator = 'rules' "
            . 'GROUP BY id HAVING count(*) > 1) d'), 0,
        'kill -9: no call has two');
    is(count('llm_evaluations'), count('llm_requests'),
        'kill -9: as many verdicts as rows');
}

nginx_stop($ng);
error_log_ok($ng);

done_testing();
