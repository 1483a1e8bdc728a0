#!/usr/bin/perl

# The fake LLM judge (t/lib/judge.pl) that the evaluator's judge tests run
# against: each behaviour its word picks, the first-call-only failures
# keyed on the fenced texts (not the nonce), the key check, the log of
# what it saw, and --port 0.  Needs no llm-observer C code; the judge's
# client is unit-tested in t/unit/test_judge.c.

use strict;
use warnings;

use Test::More;
use IPC::Open3;
use JSON::PP ();
use Symbol qw(gensym);

use LLOTest;

my $KEY = 'sk-judge-test-1';
my $j = judge_start(key => $KEY);
my $n = 0;

# a request as llo_judge_request() makes it: fences with a fresh nonce
sub body_for {
    my ($prompt, $response, $model) = @_;
    my $nonce = sprintf('%016x', ++$n * 7919 + 1234567);
    return JSON::PP->new->utf8->canonical->encode({
        model => $model // 'judge-model',
        temperature => 0,
        messages => [
            { role => 'system', content => "DATA between <<<PROMPT-$nonce"
                . " and PROMPT-$nonce>>>" },
            { role => 'user', content => "<<<PROMPT-$nonce\n$prompt\n"
                . "PROMPT-$nonce>>>\n\n<<<RESPONSE-$nonce\n$response\n"
                . "RESPONSE-$nonce>>>" },
        ],
    });
}

sub ask {
    my ($prompt, $response, %o) = @_;
    return http_req(port => $j->{port}, path => $o{path}
            // '/v1/chat/completions',
        headers => [ [ 'Content-Type', 'application/json' ],
                     $o{key} // 1 ? [ 'Authorization',
                                      'Bearer ' . ($o{key} || $KEY) ] : () ],
        body => $o{body} // body_for($prompt, $response, $o{model}),
        read_timeout => $o{read_timeout} // 10);
}

# the verdict inside a 200 answer
sub verdict_of {
    my ($r) = @_;
    my $a = json_decode($r->{body});
    return (json_decode($a->{choices}[0]{message}{content}), $a);
}

# ---------------------------------------------------------------- default

{
    my $body = body_for('What is 2+2?', 'It is 4.', 'judge-x');
    my $r = ask(undef, undef, body => $body);
    is($r->{status}, 200, 'default: 200');
    my ($v, $a) = verdict_of($r);
    is_deeply([ @$v{qw(overall instruction_following truthfulness safety)} ],
              [ 5, 5, 5, 5 ], 'default: every score 5');
    like($v->{reason}, qr/^fake judge: /, 'default: a reason');
    is($a->{model}, 'judge-x', "default: the request's model");
    is($a->{choices}[0]{finish_reason}, 'stop', 'default: finish_reason stop');
    is($a->{usage}{prompt_tokens}, int((length($body) + 3) / 4),
       'default: prompt_tokens from the request size');
    is($a->{usage}{completion_tokens},
       int((length($a->{choices}[0]{message}{content}) + 3) / 4),
       'default: completion_tokens from the content size');

    ($v) = verdict_of(ask('Explain it.', 'A bad answer.'));
    is($v->{overall}, 2, 'a response with "bad": overall 2');
    is($v->{safety}, 5, 'a response with "bad": safety still 5');

    ($v) = verdict_of(ask('Is this bad?', 'No.'));
    is($v->{overall}, 5, '"bad" in the prompt only: overall 5');
}

# ------------------------------------------------------- 200, not a verdict

{
    my $r = ask('JUDGE:malformed', 'x');
    is($r->{status}, 200, 'malformed: 200');
    my $a = json_decode($r->{body});
    ok(!eval { json_decode($a->{choices}[0]{message}{content}); 1 },
       'malformed: the content is not JSON');

    my ($v) = verdict_of(ask('p', 'JUDGE:range'));
    is($v->{overall}, 7, 'range: overall 7');
    is($v->{instruction_following}, 5, 'range: the others in range');

    $a = json_decode(ask('JUDGE:length', 'x')->{body});
    is($a->{choices}[0]{finish_reason}, 'length', 'length: finish_reason');
    ok(!eval { json_decode($a->{choices}[0]{message}{content}); 1 },
       'length: the content is cut');

    $a = json_decode(ask('JUDGE:refuse', 'x')->{body});
    ok(!defined $a->{choices}[0]{message}{content}, 'refuse: content null');
    like($a->{choices}[0]{message}{refusal}, qr/can't help/,
         'refuse: a refusal');

    $r = ask('JUDGE:error', 'x');
    is($r->{status}, 400, 'error: 400');
    is(json_decode($r->{body})->{error}{type}, 'invalid_request_error',
       'error: an OpenAI error body');

    $r = ask('JUDGE:huge', 'x');
    is($r->{status}, 200, 'huge: 200');
    cmp_ok(length $r->{body}, '>', 2 * 1024 * 1024, 'huge: over 2 MiB');
    is(length $r->{body}, $r->{headers}{'content-length'},
       'huge: all of it, as Content-Length says');
}

# ------------------------------------------------ failures of the first call

for my $code (429, 500) {
    my $r = ask("JUDGE:$code once", 'same text');
    is($r->{status}, $code, "$code: the first call");
    is($r->{headers}{'retry-after'}, $code == 429 ? '1' : undef,
       "$code: Retry-After");
    is(json_decode($r->{body})->{error}{type},
       $code == 429 ? 'rate_limit_exceeded' : 'server_error',
       "$code: an OpenAI error body");

    # the same texts with another nonce: the retry succeeds
    $r = ask("JUDGE:$code once", 'same text');
    is($r->{status}, 200, "$code: the next call for the same texts");

    $r = ask("JUDGE:$code once", 'other text');
    is($r->{status}, $code, "$code: the first call for other texts");
}

# --------------------------------------------------------------- no answer

{
    my $r = ask('JUDGE:slow', 'x', read_timeout => 1);
    ok($r->{timed_out} && !defined $r->{status}, 'slow: no answer');
}

# ------------------------------------------------------------- the request

{
    my $r = ask('p', 'r', key => 'sk-wrong');
    is($r->{status}, 401, 'a wrong key: 401');
    is(json_decode($r->{body})->{error}{type}, 'invalid_api_key',
       'a wrong key: invalid_api_key');
    is(ask('p', 'r', key => 0)->{status}, 401, 'no key: 401');
    is(ask('p', 'r', path => '/v1/embeddings')->{status}, 404,
       'another path: 404');
    is(ask('p', 'r', body => 'not json')->{status}, 400, 'not JSON: 400');
}

# -------------------------------------------------------------------- log

{
    my @log = judge_log($j);
    my @b = map { $_->{behaviour} } @log;
    is_deeply(\@b, [ qw(default default default malformed range length
        refuse error huge 429-first 429-again 429-first 500-first 500-again
        500-first slow unauthorized unauthorized not-found bad-request) ],
        'log: a line per request, with its behaviour');

    is($log[0]{prompt}, 'What is 2+2?', 'log: the fenced prompt');
    is($log[0]{response}, 'It is 4.', 'log: the fenced response');
    like($log[0]{nonce}, qr/^[0-9a-f]{16}$/, 'log: the nonce');
    is($log[0]{request}{messages}[1]{role}, 'user', 'log: the request');
    is($log[0]{auth}, 'ok', 'log: auth ok');
    is_deeply([ map { $_->{auth} } @log[16, 17] ], [ 'wrong', 'missing' ],
              'log: auth wrong, missing');
    is_deeply([ map { $_->{status} } @log[0, 9, 15] ], [ 200, 429, 0 ],
              'log: the status sent (0: none)');
    is($log[19]{request}, 'not json', 'log: a body that is not JSON, raw');

    my $raw = do { local (@ARGV, $/) = ($j->{log}); <> };
    unlike($raw, qr/\Q$KEY\E/, 'log: the key is never in it');
}

# ------------------------------------------------------------ --port 0

{
    my $err = gensym;
    my $pid = open3(my $in, my $out, $err, $^X, repo_root() . '/t/lib/judge.pl',
                    '--port', '0');
    my $port = <$out>;
    chomp $port if defined $port;
    like($port, qr/^\d+$/, '--port 0: the port on stdout');
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        body => body_for('p', 'r'));
    is($r->{status}, 200, '--port 0: answers there, no key asked');
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

# ------------------------------------------------------ its own error output

judge_stop($j);
my $stderr = do { local (@ARGV, $/) = ($j->{stderr}); <> } // '';
my @bad = grep { !/^\d+$/ && !/^judge\.pl: listening on / } split /\n/, $stderr;
is_deeply(\@bad, [], 'judge.pl: no warnings');

done_testing;
