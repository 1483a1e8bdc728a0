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
# bodies, Expect: 100-continue; one forked process per connection.
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
use Fcntl qw(:flock);
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep);

use LLOFixtures;

my ($port, $log);
GetOptions('port=i' => \$port, 'log=s' => \$log)
    or die "usage: $0 --port N [--log FILE]\n";
die "usage: $0 --port N [--log FILE]\n" unless defined $port;

my $IDLE_TIMEOUT = 60;
my $HJSON = JSON::PP->new->ascii->canonical;
my $MAX_HEADER   = 64 * 1024;

# precompute every scenario once (gzip, big) so children only write
LLOFixtures::scenario($_) for LLOFixtures::scenario_names();

my $srv = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1',
    LocalPort => $port,
    Proto     => 'tcp',
    Listen    => 128,
    ReuseAddr => 1,
) or die "upstream.pl: cannot listen on 127.0.0.1:$port: $!\n";

# own process group, so that stopping us also stops in-flight children
setpgrp(0, 0);
my $MASTER = $$;

$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
for my $sig (qw(TERM INT HUP)) {
    $SIG{$sig} = sub {
        if ($$ == $MASTER) {
            local $SIG{TERM} = 'IGNORE';
            kill 'TERM', -$MASTER;
        }
        POSIX::_exit(0);
    };
}

print STDERR "upstream.pl: listening on 127.0.0.1:$port (pid $$)\n";

while (1) {
    my $c = $srv->accept;
    unless ($c) {
        next if $!{EINTR};
        die "upstream.pl: accept: $!\n";
    }
    my $pid = fork;
    if (!defined $pid) {
        warn "upstream.pl: fork: $!\n";
        close $c;
        next;
    }
    if ($pid == 0) {
        close $srv;
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
        eval { serve_connection($c) };
        warn "upstream.pl: $@" if $@;
        close $c;
        POSIX::_exit(0);
    }
    close $c;
}

# ---------------------------------------------------------------------------

sub read_more {
    my ($c, $bufref, $timeout) = @_;
    my $sel = IO::Select->new($c);
    return 0 unless $sel->can_read($timeout);
    my $n = sysread($c, $$bufref, 65536, length $$bufref);
    return $n || 0;
}

sub write_all {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($c, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub bad_request {
    my ($c, $why) = @_;
    my $body = "bad request: $why\n";
    write_all($c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body");
    return undef;
}

# returns request hashref, or undef (connection to be closed)
sub read_request {
    my ($c, $bufref) = @_;

    my $i;
    while (1) {
        $$bufref =~ s/^(?:\r\n)+//;
        last if ($i = index($$bufref, "\r\n\r\n")) >= 0;
        return bad_request($c, 'header too large') if length $$bufref > $MAX_HEADER;
        return undef unless read_more($c, $bufref, $IDLE_TIMEOUT);
    }
    my $head = substr($$bufref, 0, $i + 4, '');
    my @lines = split /\r\n/, $head;
    my $rl = shift @lines;
    my ($method, $target, $version) = $rl =~ m{^([A-Z]+) (\S+) HTTP/(\d\.\d)$}
        or return bad_request($c, 'bad request line');

    my (%h, @hl);
    for my $l (@lines) {
        my ($n, $v) = $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/
            or return bad_request($c, 'bad header line');
        $n = lc $n;
        push @hl, [ $n, $v ];
        $h{$n} = exists $h{$n} ? "$h{$n}, $v" : $v;
    }

    my $conn = lc($h{connection} // '');
    my $keepalive = $version eq '1.1' ? $conn !~ /\bclose\b/ : $conn =~ /\bkeep-alive\b/;

    my $chunked = ($h{'transfer-encoding'} // '') =~ /chunked/i;
    my $clen = $h{'content-length'};

    if (($chunked || ($clen // 0) > 0) && ($h{expect} // '') =~ /100-continue/i
        && !length $$bufref)
    {
        write_all($c, "HTTP/1.1 100 Continue\r\n\r\n") or return undef;
    }

    my $body = '';
    if ($chunked) {
        while (1) {
            my $j;
            until (($j = index($$bufref, "\r\n")) >= 0) {
                return undef unless read_more($c, $bufref, $IDLE_TIMEOUT);
            }
            my $line = substr($$bufref, 0, $j + 2, '');
            $line =~ /^([0-9a-fA-F]+)/ or return bad_request($c, 'bad chunk size');
            my $size = hex $1;
            if ($size == 0) {
                # trailer section up to an empty line
                while (1) {
                    until (($j = index($$bufref, "\r\n")) >= 0) {
                        return undef unless read_more($c, $bufref, $IDLE_TIMEOUT);
                    }
                    my $t = substr($$bufref, 0, $j + 2, '');
                    last if $t eq "\r\n";
                }
                last;
            }
            while (length($$bufref) < $size + 2) {
                return undef unless read_more($c, $bufref, $IDLE_TIMEOUT);
            }
            $body .= substr($$bufref, 0, $size, '');
            substr($$bufref, 0, 2, '') eq "\r\n"
                or return bad_request($c, 'bad chunk terminator');
        }
    } elsif (defined $clen) {
        $clen =~ /^\d+$/ or return bad_request($c, 'bad content-length');
        while (length($$bufref) < $clen) {
            return undef unless read_more($c, $bufref, $IDLE_TIMEOUT);
        }
        $body = substr($$bufref, 0, $clen, '');
    }

    return {
        method    => $method,
        target    => $target,
        version   => $version,
        headers   => \%h,
        header_list => \@hl,
        keepalive => $keepalive,
        body      => $body,
    };
}

sub log_request {
    my ($req, $scenario) = @_;
    return unless defined $log;
    my $line = join("\t", $req->{method}, $req->{target}, sha256_hex($req->{body}),
        length($req->{body}), $scenario, "HTTP/$req->{version}",
        $HJSON->encode($req->{headers}), unpack('H*', $req->{body})) . "\n";
    if (open my $fh, '>>', $log) {
        flock($fh, LOCK_EX);
        syswrite($fh, $line);
        close $fh;
    } else {
        warn "upstream.pl: cannot open log $log: $!\n";
    }
}

sub serve_connection {
    my ($c) = @_;
    binmode $c;
    my $buf = '';
    while (1) {
        my $req = read_request($c, \$buf) or return;
        my $keep = handle($c, $req);
        return unless $keep && $req->{keepalive};
    }
}

sub simple_response {
    my ($c, $req, $status, $reason, $ctype, $body, $extra) = @_;
    my $close = !$req->{keepalive};
    my $r = "HTTP/1.1 $status $reason\r\n"
        . "Content-Type: $ctype\r\n"
        . "Content-Length: " . length($body) . "\r\n"
        . ($extra // '')
        . ($close ? "Connection: close\r\n"
            : $req->{version} eq '1.0' ? "Connection: keep-alive\r\n" : '')
        . "\r\n";
    $r .= $body unless $req->{method} eq 'HEAD';
    return write_all($c, $r) && !$close;
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
