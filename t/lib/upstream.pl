#!/usr/bin/perl

# Fake LLM provider (OpenAI chat completions wire format) for llm-observer
# tests.
#
#   perl t/lib/upstream.pl --port N [--log FILE]
#
# Scenario per request header "x-scenario" (default "json"); scenario bodies
# and expected facts live in t/lib/LLOFixtures.pm.
#
#   GET /__expected/<scenario>  -> exact entity body the scenario sends
#                                  (application/octet-stream)
#   anything else               -> the scenario response
#
# Every response carries "x-upstream-scenario: <name>". The "echo" scenario
# also sends "x-body-sha256" and "x-body-len" of the received request body.
# Handles HTTP/1.0 and 1.1, keep-alive, Content-Length and chunked request
# bodies, Expect: 100-continue; one forked process per connection (the
# server is LLOHTTPD.pm's).
#
# With --log FILE one tab-separated line per request is appended:
#   METHOD  PATH  SHA256(body)  LEN(body)  SCENARIO  HTTP/x.y  HEADERS
# (HEADERS: the request headers as one-line JSON object, lowercase names),
# then the body in hex.
#
# "x-scenario: file:NAME" serves t/fixtures/providers/NAME.body (NAME.meta:
# status, content type); "file:NAME:abort" half of it, then closes.
# "x-scenario: reply" answers what the request's x-reply header dictates
# (see reply()).
# "x-scenario: sse_auto" streams sse_usage when the request body asks for
# stream_options.include_usage, sse_nousage otherwise.

use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Digest::SHA qw(sha256_hex);
use Getopt::Long;
use JSON::PP ();
use Time::HiRes qw(sleep);

use LLOFixtures;
use LLOHTTPD qw(serve write_all simple_response append_line);

my ($port, $log);
GetOptions('port=i' => \$port, 'log=s' => \$log)
    or die "usage: $0 --port N [--log FILE]\n";
die "usage: $0 --port N [--log FILE]\n" unless defined $port;

my $HJSON = JSON::PP->new->ascii->canonical;

# precompute every scenario once (gzip, big) so children only write
LLOFixtures::scenario($_) for LLOFixtures::scenario_names();

serve(name => 'upstream.pl', port => $port, handler => \&handle);

# ---------------------------------------------------------------------------

sub log_request {
    my ($req, $scenario) = @_;
    return unless defined $log;
    my $line = join("\t", $req->{method}, $req->{target}, sha256_hex($req->{body}),
        length($req->{body}), $scenario, "HTTP/$req->{version}",
        $HJSON->encode($req->{headers}), unpack('H*', $req->{body})) . "\n";
    append_line($log, $line);
}

# "x-scenario: reply": the answer the request dictates in its "x-reply"
# header, a JSON object: {"text": content, "finish": finish_reason
# (default "stop"), "status": HTTP status (default 200; 400 and up send
# an OpenAI error body whose message is text)}
sub reply {
    my ($c, $req) = @_;
    my $r = eval { JSON::PP->new->decode($req->{headers}{'x-reply'} // '') };
    return simple_response($c, $req, 400, 'Bad Request', 'text/plain',
        "x-reply is not a JSON object\n") unless ref $r eq 'HASH';
    my $status = $r->{status} // 200;
    my $text = $r->{text} // '';
    my $J = JSON::PP->new->utf8->canonical;
    my $body;
    if ($status >= 400) {
        $body = $J->encode({ error => { message => $text,
            type => 'server_error', param => undef, code => undef } });
    } else {
        my $words = () = $text =~ /\S+/g;
        $body = $J->encode({
            id => 'chatcmpl-reply', object => 'chat.completion',
            created => 1700000000, model => 'gpt-4o-mini-2024-07-18',
            choices => [ { index => 0, finish_reason => $r->{finish} // 'stop',
                message => { role => 'assistant', content => $text } } ],
            usage => { prompt_tokens => 9, completion_tokens => $words,
                total_tokens => 9 + $words } });
    }
    return simple_response($c, $req, $status, $status >= 400 ? 'Error' : 'OK',
        'application/json', $body . "\n", "x-upstream-scenario: reply\r\n");
}

# returns true if the connection may be kept alive
sub handle {
    my ($c, $req) = @_;

    if ($req->{target} =~ m{^/__expected/([A-Za-z0-9_:]+)$}) {
        my $name = $1;
        log_request($req, $name);
        my $s = LLOFixtures::scenario($name);
        return simple_response($c, $req, 404, 'Not Found', 'text/plain',
            "unknown scenario $name\n") unless $s;
        return simple_response($c, $req, 200, 'OK', 'application/octet-stream',
            $s->{body}, "x-upstream-scenario: $name\r\n");
    }

    my $name = $req->{headers}{'x-scenario'} // 'json';
    log_request($req, $name);

    # "sse_auto" answers like OpenAI: the usage chunk only when the request
    # asked for it with stream_options.include_usage
    if ($name eq 'sse_auto') {
        my $j = eval { JSON::PP->new->decode($req->{body}) };
        $name = ($j && ref $j eq 'HASH' && ref $j->{stream_options} eq 'HASH'
                 && $j->{stream_options}{include_usage})
            ? 'sse_usage' : 'sse_nousage';
        unless ($j) {
            return simple_response($c, $req, 400, 'Bad Request',
                'application/json',
                qq({"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error","param":null,"code":null}}\n),
                "x-upstream-scenario: sse_auto\r\n");
        }
    }
    return reply($c, $req) if $name eq 'reply';

    my $s = LLOFixtures::scenario($name);
    unless ($s) {
        return simple_response($c, $req, 404, 'Not Found', 'application/json',
            qq({"error":{"message":"unknown x-scenario '$name'","type":"invalid_request_error","param":null,"code":null}}\n),
            "x-upstream-scenario: $name\r\n");
    }

    my @headers = @{ $s->{headers} };
    push @headers, [ 'x-upstream-scenario', $name ];
    if ($name eq 'echo') {
        push @headers, [ 'x-body-sha256', sha256_hex($req->{body}) ];
        push @headers, [ 'x-body-len',    length $req->{body} ];
    }

    my $framing = $s->{framing};
    my $http10 = $req->{version} eq '1.0';
    my $close = !$req->{keepalive};

    my $head = "HTTP/1.1 $s->{status} $s->{reason}\r\n";
    $head .= "$_->[0]: $_->[1]\r\n" for @headers;

    my $mode;
    if ($framing eq 'length') {
        $mode = 'length';
        $head .= "Content-Length: " . length($s->{body}) . "\r\n";
    } elsif ($http10) {
        # no chunked encoding for HTTP/1.0 clients: close-delimited body
        $mode = 'close';
        $close = 1;
    } else {
        $mode = $framing;
        $head .= "Transfer-Encoding: chunked\r\n";
        $close = 1 if $framing eq 'chunked_noterm';
    }
    $head .= $close ? "Connection: close\r\n"
        : $http10 ? "Connection: keep-alive\r\n" : '';
    $head .= "\r\n";

    my $delay = $s->{delay};
    my $is_head = $req->{method} eq 'HEAD';

    if ($delay == 0 && !$is_head && $mode eq 'length') {
        write_all($c, $head . $s->{body}) or return 0;
        return !$close;
    }

    write_all($c, $head) or return 0;
    return !$close if $is_head;

    for my $p (@{ $s->{pieces} }) {
        sleep($delay) if $delay > 0;
        my $data = ($mode eq 'chunked' || $mode eq 'chunked_noterm')
            ? sprintf("%x\r\n", length $p) . $p . "\r\n" : $p;
        write_all($c, $data) or return 0;
    }

    if ($mode eq 'chunked') {
        sleep($delay) if $delay > 0;
        write_all($c, "0\r\n\r\n") or return 0;
    }

    return !$close;
}
