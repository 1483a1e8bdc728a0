package LLOHTTPD;

# The HTTP/1.x server under the fake daemons of t/lib (upstream.pl,
# judge.pl): they differ in what they answer, not in how they speak.
#
#   use LLOHTTPD qw(serve write_all simple_response);
#   serve(name => 'judge.pl', port => $port,        # 0: a free one
#         handler => sub { my ($c, $req) = @_; ...; return $keep },
#         on_listen => sub { my ($port) = @_; ... }, # optional
#         on_exit => sub { ... });                   # optional, master
#   append_line($file, $line)   one line to a log the connections share
#
# serve() never returns.  It listens on 127.0.0.1, puts itself in a
# process group of its own (stopping it stops the connections in flight),
# and forks a process per connection.  A connection serves requests until
# one is not keep-alive or the handler returns false.  Handles HTTP/1.0
# and 1.1, keep-alive, Content-Length and chunked request bodies, and
# Expect: 100-continue.  $req is
#   { method, target, version, headers => {lc name => value},
#     header_list => [[lc name, value], ...], keepalive, body }
# Core Perl only.

use strict;
use warnings;

use Exporter 'import';
use Fcntl qw(:flock);
use IO::Select;
use IO::Socket::INET;
use POSIX ();

our @EXPORT_OK = qw(serve write_all simple_response append_line);

my $IDLE_TIMEOUT = 60;
my $MAX_HEADER   = 64 * 1024;
my $NAME         = 'LLOHTTPD';

sub serve {
    my (%o) = @_;
    my $name = $o{name};

    my $srv = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $o{port} // 0,
        Proto     => 'tcp',
        Listen    => 128,
        ReuseAddr => 1,
    ) or die "$name: cannot listen on 127.0.0.1:" . ($o{port} // 0)
        . ": $!\n";
    my $port = $srv->sockport;

    # own process group, so that stopping us also stops in-flight children
    setpgrp(0, 0);
    my $master = $$;

    $SIG{CHLD} = 'IGNORE';
    $SIG{PIPE} = 'IGNORE';
    for my $sig (qw(TERM INT HUP)) {
        $SIG{$sig} = sub {
            if ($$ == $master) {
                local $SIG{TERM} = 'IGNORE';
                kill 'TERM', -$master;
                $o{on_exit}->() if $o{on_exit};
            }
            POSIX::_exit(0);
        };
    }

    $NAME = $name;
    print STDERR "$name: listening on 127.0.0.1:$port (pid $$)\n";
    $o{on_listen}->($port) if $o{on_listen};

    while (1) {
        my $c = $srv->accept;
        unless ($c) {
            next if $!{EINTR};
            die "$name: accept: $!\n";
        }
        my $pid = fork;
        if (!defined $pid) {
            warn "$name: fork: $!\n";
            close $c;
            next;
        }
        if ($pid == 0) {
            close $srv;
            $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
            eval { serve_connection($c, $o{handler}) };
            warn "$name: $@" if $@;
            close $c;
            POSIX::_exit(0);
        }
        close $c;
    }
}

# whole lines, under a lock: connections are processes of their own
sub append_line {
    my ($file, $line) = @_;
    if (open my $fh, '>>', $file) {
        flock($fh, LOCK_EX);
        syswrite($fh, $line);
        close $fh;
    } else {
        warn "$NAME: cannot open log $file: $!\n";
    }
}

sub serve_connection {
    my ($c, $handler) = @_;
    binmode $c;
    my $buf = '';
    while (1) {
        my $req = read_request($c, \$buf) or return;
        my $keep = $handler->($c, $req);
        return unless $keep && $req->{keepalive};
    }
}

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

# a whole response; returns true if the connection may be kept alive
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

1;
