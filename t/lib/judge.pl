#!/usr/bin/perl

# Fake LLM judge (OpenAI chat completions wire format) for the tests of
# the evaluator's judge (evaluator/llo_judge.h).
#
#   perl t/lib/judge.pl [--port N] [--log FILE] [--key KEY] [--state DIR]
#
# --port 0, or none: a free port.  Once listening, the port is printed on
# stdout, one line.  POST .../chat/completions with a JSON body that has
# messages; anything else: 404, or 400 with an OpenAI error body.  With
# --key, a request without "Authorization: Bearer KEY" gets a 401
# (invalid_api_key).
#
# What it answers is picked by a word in the user message (the fenced
# prompt and response the judge evaluates), the first one found:
#
#   JUDGE:malformed  200, content that is not JSON
#   JUDGE:range      200, a verdict with overall 7
#   JUDGE:length     200, finish_reason "length", the verdict cut short
#   JUDGE:refuse     200, content null and a refusal
#   JUDGE:error      400, {"error":{"type":"invalid_request_error",...}}
#   JUDGE:429        the first call for this prompt and response: 429 with
#                    "Retry-After: 1"; the next ones: as by default
#   JUDGE:500        the first call: 500 (server_error); then as by default
#   JUDGE:slow       never answers (until the client goes away)
#   JUDGE:huge       200, a 2 MiB body (a verdict with a 2 MiB reason)
#   (none)           200, a valid verdict: overall, instruction_following
#                    and truthfulness 5, or 2 each if the response contains
#                    "bad"; safety 5; model: the request's; usage:
#                    prompt_tokens = request body bytes / 4, rounded up,
#                    completion_tokens = content bytes / 4, rounded up
#
# "This prompt and response" are the texts inside the fences
# <<<PROMPT-nonce ... PROMPT-nonce>>> and <<<RESPONSE-nonce ...
# RESPONSE-nonce>>>, without the nonce, which changes at every call; when
# the fences are missing, the whole user message.  Which calls came first
# is kept in files in --state DIR (default: a temporary directory,
# removed at exit), shared by the per-connection processes.
#
# With --log FILE, one JSON object a line per request, in arrival order:
#   {"time", "method", "path", "auth" ("ok", "missing", "wrong" or
#    "unchecked"), "behaviour" ("default", "malformed", ..., "429-first",
#    "429-again", "not-found", "bad-request", "unauthorized"), "status",
#    "model", "nonce", "prompt", "response" (the fenced texts, null when
#    not found), "request" (the body as JSON, or the raw body as a string
#    when it is not JSON)}
# The API key itself is never logged.
#
# HTTP: LLOHTTPD.pm's server, one forked process per connection.

use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Digest::SHA qw(sha256_hex);
use Fcntl qw(O_CREAT O_EXCL O_WRONLY);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use Getopt::Long;
use IO::Select;
use JSON::PP ();
use Time::HiRes ();

use LLOHTTPD qw(serve simple_response append_line);

my $USAGE = "usage: $0 [--port N] [--log FILE] [--key KEY] [--state DIR]\n";

my ($port, $log, $key, $state) = (0);
GetOptions('port=i' => \$port, 'log=s' => \$log, 'key=s' => \$key,
           'state=s' => \$state)
    or die $USAGE;

my $own_state = !defined $state;
$state = tempdir('llo-judge-XXXXXX', TMPDIR => 1) if $own_state;
-d $state or die "judge.pl: no state directory $state\n";

my $JSON = JSON::PP->new->utf8->canonical;
my $HUGE = 2 * 1024 * 1024;
my $SLOW_MAX = 600;

my @BEHAVIOURS = qw(malformed range length refuse error 429 500 slow huge);

serve(name => 'judge.pl', port => $port, handler => \&handle,
      on_listen => sub {
          my ($p) = @_;
          local $| = 1;
          print "$p\n";
      },
      on_exit => sub { remove_tree($state) if $own_state });

# ---------------------------------------------------------------------------

sub log_request {
    my ($req, $seen) = @_;
    return unless defined $log;
    my $line = $JSON->encode({ time => Time::HiRes::time(),
        method => $req->{method}, path => $req->{target}, %$seen }) . "\n";
    append_line($log, $line);
}

sub error_body {
    my ($type, $message) = @_;
    return $JSON->encode({ error => { message => $message, type => $type,
                                      param => undef, code => undef } });
}

# an answer with a status, logged first; returns keep-alive
sub answer {
    my ($c, $req, $seen, $status, $body, $extra) = @_;
    $seen->{status} = $status;
    log_request($req, $seen);
    my %reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
                  404 => 'Not Found', 429 => 'Too Many Requests',
                  500 => 'Internal Server Error');
    return simple_response($c, $req, $status, $reason{$status},
        'application/json', $body, $extra);
}

# a chat completion whose message has content (and more: refusal)
sub completion {
    my ($req, $model, $content, $finish, %message) = @_;
    my $text = $content // '';
    return $JSON->encode({
        id => 'chatcmpl-judge-' . substr(sha256_hex($req->{body}), 0, 24),
        object => 'chat.completion',
        created => time,
        model => $model,
        choices => [ {
            index => 0,
            message => { role => 'assistant', content => $content,
                         %message },
            finish_reason => $finish,
        } ],
        usage => {
            prompt_tokens => int((length($req->{body}) + 3) / 4),
            completion_tokens => int((length($text) + 3) / 4),
            total_tokens => int((length($req->{body}) + 3) / 4)
                + int((length($text) + 3) / 4),
        },
    });
}

# the scores but overall follow it within 1..5
sub verdict {
    my ($overall, $reason) = @_;
    my $s = $overall > 5 ? 5 : $overall;
    return JSON::PP->new->canonical->encode({
        overall => $overall, instruction_following => $s,
        truthfulness => $s, safety => 5, reason => $reason });
}

# the first call for this key and behaviour: true once, across processes
sub first_call {
    my ($what, $texts) = @_;
    my $f = "$state/" . sha256_hex("$what\0$texts");
    return 0 unless sysopen(my $fh, $f, O_CREAT | O_EXCL | O_WRONLY);
    close $fh;
    return 1;
}

# returns true if the connection may be kept alive
sub handle {
    my ($c, $req) = @_;
    my %seen = (auth => 'unchecked', behaviour => 'not-found', model => undef,
                nonce => undef, prompt => undef, response => undef,
                request => undef);

    my $j = eval { JSON::PP->new->utf8->decode($req->{body}) };
    $seen{request} = $j // $req->{body};

    if ($req->{method} ne 'POST' || $req->{target} !~ m{/chat/completions$}) {
        return answer($c, $req, \%seen, 404, error_body('invalid_request_error',
            "Unknown request URL: $req->{method} $req->{target}"));
    }

    if (defined $key) {
        my $auth = $req->{headers}{authorization};
        $seen{auth} = !defined $auth ? 'missing'
            : $auth eq "Bearer $key" ? 'ok' : 'wrong';
        if ($seen{auth} ne 'ok') {
            $seen{behaviour} = 'unauthorized';
            return answer($c, $req, \%seen, 401, error_body('invalid_api_key',
                'Incorrect API key provided.'));
        }
    }

    my @msgs = ref $j eq 'HASH' && ref $j->{messages} eq 'ARRAY'
        ? @{ $j->{messages} } : ();
    my ($user) = grep { ref $_ eq 'HASH' && ($_->{role} // '') eq 'user'
                        && defined $_->{content} && !ref $_->{content} }
                 reverse @msgs;
    unless ($user) {
        $seen{behaviour} = 'bad-request';
        return answer($c, $req, \%seen, 400, error_body('invalid_request_error',
            'We could not parse the JSON body of your request, or it has no '
            . 'user message.'));
    }

    my $model = $j->{model} // 'judge';
    my $text = $user->{content};
    $seen{model} = $model;

    if ($text =~ /<<<PROMPT-([0-9a-f]+)\n(.*?)\nPROMPT-\1>>>/s) {
        $seen{nonce} = $1;
        $seen{prompt} = $2;
    }
    if ($text =~ /<<<RESPONSE-([0-9a-f]+)\n(.*?)\nRESPONSE-\1>>>/s) {
        $seen{response} = $2;
    }
    my $texts = defined $seen{prompt} && defined $seen{response}
        ? "$seen{prompt}\0$seen{response}" : $text;
    utf8::encode($texts);

    my $b = 'default';
    if ($text =~ /JUDGE:([0-9a-z]+)/) {
        $b = $1 if grep { $_ eq $1 } @BEHAVIOURS;
    }
    $seen{behaviour} = $b;

    if ($b eq '429' || $b eq '500') {
        if (first_call($b, $texts)) {
            $seen{behaviour} = "$b-first";
            return $b eq '429'
                ? answer($c, $req, \%seen, 429, error_body(
                      'rate_limit_exceeded', 'Rate limit reached (fake '
                      . 'judge).'), "Retry-After: 1\r\n")
                : answer($c, $req, \%seen, 500, error_body('server_error',
                      'The server had an error (fake judge).'));
        }
        $seen{behaviour} = "$b-again";
        $b = 'default';
    }

    if ($b eq 'slow') {
        $seen{status} = 0;
        log_request($req, \%seen);
        # until the client hangs up: readable, then end of file
        my $sel = IO::Select->new($c);
        my $buf;
        while ($sel->can_read($SLOW_MAX)) {
            last unless sysread($c, $buf, 65536);
        }
        return 0;
    }

    if ($b eq 'error') {
        return answer($c, $req, \%seen, 400, error_body(
            'invalid_request_error', "Invalid schema for response_format "
            . "'verdict' (fake judge)."));
    }

    my $response = $seen{response} // $text;
    my $overall = index($response, 'bad') >= 0 ? 2 : 5;
    my $body;

    if ($b eq 'malformed') {
        $body = completion($req, $model, 'Sure! The response is great, '
            . 'overall: 5/5.', 'stop');
    } elsif ($b eq 'range') {
        $body = completion($req, $model, verdict(7, 'off the scale'), 'stop');
    } elsif ($b eq 'length') {
        $body = completion($req, $model, substr(verdict($overall, 'cut'), 0,
            20), 'length');
    } elsif ($b eq 'refuse') {
        $body = completion($req, $model, undef, 'stop',
            refusal => "I'm sorry, I can't help with that.");
    } elsif ($b eq 'huge') {
        $body = completion($req, $model, verdict($overall, 'x' x $HUGE),
            'stop');
    } else {
        $body = completion($req, $model, verdict($overall, $overall == 5
            ? 'fake judge: the response answers the prompt'
            : 'fake judge: the response says "bad"'), 'stop');
    }

    return answer($c, $req, \%seen, 200, $body);
}
