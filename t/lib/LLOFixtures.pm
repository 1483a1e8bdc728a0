package LLOFixtures;

# Deterministic fake-provider scenarios (OpenAI chat completions wire format).
#
# Used by t/lib/upstream.pl (to serve them) and by tests (to know exactly what
# was sent and what facts a correct observer must extract from it).
#
#   my $s = LLOFixtures::scenario('sse_usage');
#   $s->{status}        HTTP status (200, 400, ...)
#   $s->{reason}        reason phrase
#   $s->{headers}       [[name, value], ...] (no framing headers)
#   $s->{framing}       'length'          Content-Length
#                       'chunked'         Transfer-Encoding: chunked
#                       'chunked_noterm'  chunked, connection closed before the
#                                         terminating 0-chunk (abort_mid)
#                       (to an HTTP/1.0 request, chunked framings are sent
#                        close-delimited instead, as HTTP requires; nginx's
#                        default proxy_http_version is 1.0, so use
#                        "proxy_http_version 1.1;" to get real chunking)
#   $s->{pieces}        [bytes, ...] entity-body pieces, one write (and one
#                       HTTP chunk, when chunked) each
#   $s->{delay}         seconds slept between writes (header block included)
#   $s->{body}          join('', @pieces): the exact entity body a client sees
#                       after de-chunking (compressed bytes for gzip scenarios)
#   $s->{decoded_body}  body after Content-Encoding is undone (== body unless
#                       gzip)
#   $s->{facts}         what a correct parser extracts:
#       status, stream (0/1), complete (0 for abort_mid), content_type,
#       content_encoding (undef or 'gzip'), response_id, model,
#       prompt_tokens, completion_tokens, total_tokens, cached_tokens,
#       reasoning_tokens (undef when the response has no usage),
#       finish_reason (undef when absent), text (assistant text, UTF-8
#       bytes, concatenated over all deltas), error_type, error_code,
#       error_message, error_param (undef unless an error body),
#       parse_error (1 for badjson), events (number of SSE data events,
#       [DONE] included), done (1 if "data: [DONE]" was sent)
#
# All strings here are BYTE strings (no "use utf8"): non-ASCII text is written
# with \x escapes of its UTF-8 encoding.

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(sha256_hex);
use Compress::Raw::Zlib ();
use IO::Compress::Gzip qw($GzipError);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);

our @EXPORT_OK = qw(scenario scenario_names expected_body expected_facts
    json_escape provider_meta provider_file provider_names);

our $MODEL   = 'gpt-4o-mini-2024-07-18';
our $CREATED = 1732000000;
our $FP      = 'fp_0ba0d124f1';

# "Hello, wörld! 你好 🙂 — a "quoted" word"
our $JSON_TEXT = "Hello, w\xc3\xb6rld! \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82"
    . " \xe2\x80\x94 a \"quoted\" word";

# Stream deltas: [ raw JSON string contents as sent, decoded UTF-8 bytes ].
our @DELTAS = (
    [ 'Hello', 'Hello' ],
    [ ", w\xc3\xb6rld!", ", w\xc3\xb6rld!" ],                     # wörld
    [ " \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82",                 # 你好 🙂
      " \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82" ],
    [ q{ He said \"hi\"\nthen left caf\u00e9.},                     # escapes
      qq{ He said "hi"\nthen left caf\xc3\xa9.} ],
    [ q{ \u2014 done\/ok},                                          # — and \/
      " \xe2\x80\x94 done/ok" ],
    [ q{ Bye \ud83d\ude00},                                         # surrogates
      " Bye \xf0\x9f\x98\x80" ],                                    # 😀
);

my @NAMES = qw(json json_nousage json_chunked sse_usage sse_crlf sse_nousage slow
    error400 error429 error500 gzip gzip_sse notjson badjson abort_mid big
    echo);

my %CACHE;

sub scenario_names { return @NAMES }

sub scenario {
    my ($name) = @_;
    return $CACHE{$name} if $CACHE{$name};
    my $s;
    if ($name =~ /^file:([A-Za-z0-9_]+)(?::(abort))?$/) {
        $s = _file_scenario($1, $2) or return undef;
    } else {
        my $builder = __PACKAGE__->can("_s_$name") or return undef;
        $s = $builder->();
    }
    $s->{name} = $name;
    $s->{delay} //= 0;
    $s->{reason} //= 'OK';
    $s->{body} = join '', @{ $s->{pieces} };
    $s->{decoded_body} //= $s->{body};
    push @{ $s->{headers} }, _common_headers($name);
    $s->{facts}{status} = $s->{status};
    $s->{facts}{content_type} = _hdr($s, 'content-type');
    $s->{facts}{content_encoding} = _hdr($s, 'content-encoding');
    $s->{facts}{complete} //= 1;
    $s->{facts}{stream} //= 0;
    for my $k (qw(response_id model prompt_tokens completion_tokens
        total_tokens cached_tokens reasoning_tokens finish_reason error_type
        error_code error_message error_param parse_error))
    {
        $s->{facts}{$k} //= undef;
    }
    $s->{facts}{text} //= '';
    return $CACHE{$name} = $s;
}

sub expected_body  { my $s = scenario($_[0]) or return undef; $s->{body} }
sub expected_facts { my $s = scenario($_[0]) or return undef; $s->{facts} }

sub _hdr {
    my ($s, $name) = @_;
    for (@{ $s->{headers} }) {
        return $_->[1] if lc $_->[0] eq $name;
    }
    return undef;
}

sub _common_headers {
    my ($name) = @_;
    return (
        [ 'openai-organization',  'llo-test' ],
        [ 'openai-processing-ms', '123' ],
        [ 'openai-version',       '2020-10-01' ],
        [ 'x-request-id',         'req_' . substr(sha256_hex("llo-$name"), 0, 32) ],
    );
}

# JSON string escaping of a byte string: UTF-8 bytes pass through raw.
sub json_escape {
    my ($s) = @_;
    $s =~ s/\\/\\\\/g;
    $s =~ s/"/\\"/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
    return $s;
}

# split $body at the given offsets (ignoring out-of-range / duplicates)
sub _split_at {
    my ($body, @off) = @_;
    my %seen;
    @off = sort { $a <=> $b } grep { $_ > 0 && $_ < length($body) && !$seen{$_}++ } @off;
    my @pieces;
    my $prev = 0;
    for my $o (@off) {
        push @pieces, substr($body, $prev, $o - $prev);
        $prev = $o;
    }
    push @pieces, substr($body, $prev);
    return \@pieces;
}

sub _split_sizes {
    my ($body, @sizes) = @_;
    my @off;
    my $pos = 0;
    for (@sizes) { $pos += $_; push @off, $pos }
    return @off;
}

sub _gzip {
    my ($data) = @_;
    my $out = '';
    my $z = IO::Compress::Gzip->new(\$out, Minimal => 1, Time => 0, -Level => 6)
        or die "gzip: $GzipError";
    $z->print($data);
    $z->close;
    return $out;
}

sub _gunzip {
    my ($data) = @_;
    my $out;
    gunzip(\$data => \$out) or die "gunzip: $GunzipError";
    return $out;
}

# ---------------------------------------------------------------- non-stream

sub _usage_pretty {
    my (%u) = @_;
    return <<"EOF";
  "usage": {
    "prompt_tokens": $u{prompt},
    "completion_tokens": $u{completion},
    "total_tokens": $u{total},
    "prompt_tokens_details": {
      "cached_tokens": $u{cached},
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": $u{reasoning},
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
EOF
}

# OpenAI pretty-prints (2-space indent) non-stream responses.
sub _chat_json {
    my (%a) = @_;
    my $content = json_escape($a{text});
    my $usage = _usage_pretty(%{ $a{usage} });
    return <<"EOF";
{
  "id": "$a{id}",
  "object": "chat.completion",
  "created": $CREATED,
  "model": "$MODEL",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "$content",
        "refusal": null
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
${usage}  "service_tier": "default",
  "system_fingerprint": "$FP"
}
EOF
}

my %JSON_USAGE = (prompt => 19, completion => 10, total => 29, cached => 3,
    reasoning => 2);
my $JSON_ID = 'chatcmpl-LLOjson0000000000000000000001';

sub _json_facts {
    return {
        stream            => 0,
        response_id       => $JSON_ID,
        model             => $MODEL,
        prompt_tokens     => 19,
        completion_tokens => 10,
        total_tokens      => 29,
        cached_tokens     => 3,
        reasoning_tokens  => 2,
        finish_reason     => 'stop',
        text              => $JSON_TEXT,
    };
}

sub _json_body { _chat_json(id => $JSON_ID, text => $JSON_TEXT, usage => \%JSON_USAGE) }

sub _s_json {
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'application/json' ] ],
        framing => 'length',
        pieces  => [ _json_body() ],
        facts   => _json_facts(),
    };
}

sub _s_echo { return _s_json() }

# an OpenAI-compatible server that sends no usage
sub _s_json_nousage {
    my $s = _s_json();
    (my $b = $s->{pieces}[0]) =~ s/^  "usage": \{.*?^  \},\n//ms;
    die "json_nousage: no usage to remove" if $b eq $s->{pieces}[0];
    $s->{pieces} = [ $b ];
    my %f = %{ $s->{facts} };
    $f{$_} = undef for qw(prompt_tokens completion_tokens total_tokens
        cached_tokens reasoning_tokens);
    $s->{facts} = \%f;
    return $s;
}

sub _s_json_chunked {
    my $body = _json_body();
    my @off = _split_sizes($body, 7, 1, 13);
    push @off, index($body, "\xc3\xb6") + 1;            # inside ö
    push @off, index($body, "\xe5\xa5\xbd") + 2;        # inside 好
    push @off, index($body, "\xf0\x9f\x99\x82") + 1;    # inside 🙂
    push @off, index($body, '"completion_tokens"') + 4;
    for (my $o = 100; $o < length $body; $o += 97) { push @off, $o }
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'application/json' ] ],
        framing => 'chunked',
        pieces  => _split_at($body, @off),
        delay   => 0.005,
        facts   => _json_facts(),
    };
}

sub _s_gzip {
    my $plain = _json_body();
    my $gz = _gzip($plain);
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'application/json' ],
                     [ 'Content-Encoding', 'gzip' ] ],
        framing => 'length',
        pieces  => _split_at($gz, 10, 37),
        delay   => 0.005,
        decoded_body => $plain,
        facts   => _json_facts(),
    };
}

sub _s_big {
    my $line_tail = " The quick brown fox jumps over the lazy dog \xe2\x80\x94"
        . " w\xc3\xb6rld \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82\n";
    my $text = '';
    my $i = 0;
    while (length($text) < 200 * 1024) {
        $text .= sprintf('%05d:', $i++) . $line_tail;
    }
    my $id = 'chatcmpl-LLObig00000000000000000000001';
    my $body = _chat_json(id => $id, text => $text,
        usage => { prompt => 12, completion => 51200, total => 51212,
                   cached => 0, reasoning => 0 });
    my @off;
    for (my $o = 16384; $o < length $body; $o += 16384) { push @off, $o }
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'application/json' ] ],
        framing => 'length',
        pieces  => _split_at($body, @off),
        facts   => {
            stream            => 0,
            response_id       => $id,
            model             => $MODEL,
            prompt_tokens     => 12,
            completion_tokens => 51200,
            total_tokens      => 51212,
            cached_tokens     => 0,
            reasoning_tokens  => 0,
            finish_reason     => 'stop',
            text              => $text,
        },
    };
}

# -------------------------------------------------------------------- errors

sub _error_body {
    my (%e) = @_;
    my $msg = json_escape($e{message});
    my $param = defined $e{param} ? '"' . json_escape($e{param}) . '"' : 'null';
    my $code = defined $e{code} ? '"' . json_escape($e{code}) . '"' : 'null';
    # OpenAI error bodies are pretty-printed with 4-space indent
    return <<"EOF";
{
    "error": {
        "message": "$msg",
        "type": "$e{type}",
        "param": $param,
        "code": $code
    }
}
EOF
}

sub _error_scenario {
    my (%e) = @_;
    return {
        status  => $e{status},
        reason  => $e{reason},
        headers => [ [ 'Content-Type', 'application/json' ], @{ $e{headers} || [] } ],
        framing => 'length',
        pieces  => [ _error_body(%e) ],
        facts   => {
            stream        => 0,
            error_type    => $e{type},
            error_code    => $e{code},
            error_message => $e{message},
            error_param   => $e{param},
        },
    };
}

sub _s_error400 {
    return _error_scenario(
        status  => 400,
        reason  => 'Bad Request',
        message => "Invalid value for 'temperature': expected a decimal, but got a string instead.",
        type    => 'invalid_request_error',
        param   => undef,
        code    => 'invalid_value',
    );
}

sub _s_error429 {
    return _error_scenario(
        status  => 429,
        reason  => 'Too Many Requests',
        message => 'Rate limit reached for gpt-4o-mini in organization org-llotest'
            . ' on tokens per min (TPM): Limit 200000, Used 199990, Requested 50.'
            . ' Please try again in 12ms. Visit https://platform.openai.com/account/rate-limits'
            . ' to learn more.',
        type    => 'tokens',
        param   => undef,
        code    => 'rate_limit_exceeded',
        headers => [
            [ 'retry-after',                    '1' ],
            [ 'x-ratelimit-limit-requests',     '10000' ],
            [ 'x-ratelimit-limit-tokens',       '200000' ],
            [ 'x-ratelimit-remaining-requests', '9999' ],
            [ 'x-ratelimit-remaining-tokens',   '10' ],
            [ 'x-ratelimit-reset-requests',     '8.64s' ],
            [ 'x-ratelimit-reset-tokens',       '12ms' ],
        ],
    );
}

sub _s_error500 {
    return _error_scenario(
        status  => 500,
        reason  => 'Internal Server Error',
        message => 'The server had an error while processing your request. Sorry about that!',
        type    => 'server_error',
        param   => undef,
        code    => undef,
    );
}

sub _s_notjson {
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'text/plain' ] ],
        framing => 'length',
        pieces  => [ "upstream says hi\n" ],
        facts   => { stream => 0 },
    };
}

sub _s_badjson {
    # valid JSON for the first 57 bytes, garbage after
    my $body = '{"id":"chatcmpl-LLObadjson000","object":"chat.completion",'
        . "<<<garbage \x01 here>>> \"model\": gpt-4o-mini ]]}\n";
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'application/json' ] ],
        framing => 'length',
        pieces  => [ $body ],
        facts   => { stream => 0, parse_error => 1 },
    };
}

# -------------------------------------------------------------------- stream

my $SSE_ID = 'chatcmpl-LLOsse00000000000000000000001';

sub _chunk_json {
    my (%a) = @_;
    my $j = qq({"id":"$SSE_ID","object":"chat.completion.chunk","created":$CREATED,)
        . qq("model":"$MODEL","service_tier":"default","system_fingerprint":"$FP",)
        . qq("choices":$a{choices});
    $j .= qq(,"usage":$a{usage}) if defined $a{usage};
    return $j . '}';
}

# list of SSE data payloads (strings), [DONE] included
sub _sse_datas {
    my (%o) = @_;    # usage => 1/0, upto => N events (before [DONE])
    my $u = $o{usage} ? 'null' : undef;
    my @d;
    push @d, _chunk_json(usage => $u, choices =>
        '[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]');
    for my $dl (@DELTAS) {
        push @d, _chunk_json(usage => $u, choices =>
            qq([{"index":0,"delta":{"content":"$dl->[0]"},"logprobs":null,"finish_reason":null}]));
    }
    push @d, _chunk_json(usage => $u, choices =>
        '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]');
    if ($o{usage}) {
        push @d, _chunk_json(choices => '[]', usage =>
            '{"prompt_tokens":21,"completion_tokens":7,"total_tokens":28,'
            . '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
            . '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
            . '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}');
    }
    push @d, '[DONE]';
    return @d;
}

sub _sse_text { join '', map { $_->[1] } @DELTAS }

sub _sse_facts {
    my (%o) = @_;
    my $f = {
        stream        => 1,
        response_id   => $SSE_ID,
        model         => $MODEL,
        finish_reason => 'stop',
        text          => _sse_text(),
        done          => 1,
    };
    if ($o{usage}) {
        @$f{qw(prompt_tokens completion_tokens total_tokens cached_tokens
            reasoning_tokens)} = (21, 7, 28, 0, 0);
    }
    $f->{events} = scalar(() = _sse_datas(%o));
    return $f;
}

sub _sse_events {
    my (%o) = @_;    # eol => "\n" | "\r\n"
    my $eol = $o{eol} // "\n";
    return map { "data: $_$eol$eol" } _sse_datas(%o);
}

sub _sse_awkward_offsets {
    my ($body) = @_;
    my @off;
    my $second_data = index($body, 'data:', 1);
    push @off, $second_data + 2;                              # "da|ta:"
    push @off, index($body, 'data:', $second_data + 1) + 4;   # "data|:"
    push @off, index($body, "\xe4\xbd\xa0") + 1;              # inside 你
    push @off, index($body, "\xf0\x9f\x99\x82") + 2;          # inside 🙂
    push @off, index($body, "\xc3\xb6") + 1;                  # inside ö
    push @off, index($body, '\u00e9') + 3;                    # inside \u00e9
    push @off, index($body, '\"hi') + 1;                      # inside \"
    push @off, index($body, '\ud83d\ude00') + 6;              # between surrogates
    push @off, index($body, '"finish_reason":"stop"') + 9;
    push @off, index($body, '"completion_tokens":7') + 5;
    push @off, index($body, '[DONE]') + 3;
    my $crlf = index($body, "\r\n");
    if ($crlf >= 0) {
        push @off, $crlf + 1;                                 # \r|\n
        my $dbl = index($body, "\r\n\r\n", $second_data);
        push @off, $dbl + 3;                                  # \r\n\r|\n
        push @off, $dbl + 2;                                  # \r\n|\r\n
    } else {
        my $dbl = index($body, "\n\n", $second_data);
        push @off, $dbl + 1;                                  # \n|\n
    }
    return grep { $_ > 0 } @off;
}

sub _sse_scenario {
    my (%o) = @_;
    my @events = _sse_events(%o);
    my $body = join '', @events;
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'text/event-stream; charset=utf-8' ],
                     [ 'Cache-Control', 'no-cache' ] ],
        framing => 'chunked',
        pieces  => _split_at($body, _sse_awkward_offsets($body)),
        delay   => 0.005,
        facts   => _sse_facts(%o),
    };
}

sub _s_sse_usage   { _sse_scenario(usage => 1) }
sub _s_sse_crlf    { _sse_scenario(usage => 1, eol => "\r\n") }
sub _s_sse_nousage { _sse_scenario(usage => 0) }

sub _s_slow {
    my $s = _sse_scenario(usage => 1);
    $s->{pieces} = [ _sse_events(usage => 1) ];    # one event per write
    $s->{delay} = 0.15;
    return $s;
}

sub _s_gzip_sse {
    my $s = _sse_scenario(usage => 1);
    my $plain = join '', _sse_events(usage => 1);
    # one gzip stream, sync-flushed after every event (like a streaming
    # compressor would), each flush written separately
    my $out = '';
    my @pieces;
    my $z = IO::Compress::Gzip->new(\$out, Minimal => 1, Time => 0, -Level => 6)
        or die "gzip: $GzipError";
    my $prev = 0;
    for my $ev (_sse_events(usage => 1)) {
        $z->print($ev);
        $z->flush(Compress::Raw::Zlib::Z_SYNC_FLUSH());
        push @pieces, substr($out, $prev);
        $prev = length $out;
    }
    $z->close;
    push @pieces, substr($out, $prev);
    $s->{pieces} = [ grep { length } @pieces ];
    $s->{decoded_body} = $plain;
    push @{ $s->{headers} }, [ 'Content-Encoding', 'gzip' ];
    die "gzip_sse fixture does not round-trip"
        unless _gunzip(join '', @{ $s->{pieces} }) eq $plain;
    return $s;
}

# Provider fixtures in t/fixtures/providers (see its README): NAME.body is
# served as it is, NAME.meta gives status, content type and the facts.
# Bodies are cut at a deterministic, irregular sequence of sizes (1 to 97
# bytes), so events and UTF-8 sequences are split at awkward places; a
# stream is sent chunked with a short pause between pieces.  "abort" sends
# the first half of a stream and closes without the last chunk.

our $PROVIDER_DIR = do {
    (my $d = __FILE__) =~ s{lib/LLOFixtures\.pm$}{fixtures/providers};
    $d;
};

sub provider_meta {
    my ($name) = @_;
    open my $fh, '<', "$PROVIDER_DIR/$name.meta" or return undef;
    my %m;
    while (my $l = <$fh>) {
        chomp $l;
        next if $l =~ /^\s*(#|$)/;
        my ($k, $v) = split /=/, $l, 2;
        $m{$k} = $v;
    }
    close $fh;
    return \%m;
}

sub provider_file {
    my ($name, $ext) = @_;
    open my $fh, '<:raw', "$PROVIDER_DIR/$name.$ext" or return undef;
    local $/;
    my $b = <$fh>;
    close $fh;
    return $b;
}

sub provider_names {
    opendir my $d, $PROVIDER_DIR or return ();
    my @n = sort map { /^(.+)\.meta$/ ? $1 : () } readdir $d;
    closedir $d;
    return @n;
}

sub _file_scenario {
    my ($name, $variant) = @_;
    my $m = provider_meta($name) or return undef;
    my $body = provider_file($name, 'body');
    return undef unless defined $body;
    my $ct = $m->{content_type} // 'application/json';
    my $stream = $ct =~ m{event-stream} || ($m->{uri} // '') =~ /stream/i;
    my @sizes;
    my $x = 7;
    for (my $pos = 0; $pos < length $body; ) {
        $x = ($x * 37 + 11) % 97;
        push @sizes, $x + 1;
        $pos += $x + 1;
    }
    my $pieces = _split_at($body, _split_sizes($body, @sizes));
    my $framing = $stream ? 'chunked' : 'length';
    if (($variant // '') eq 'abort') {
        my $half = int(@$pieces / 2);
        $pieces = [ @{$pieces}[0 .. $half - 1] ];
        $framing = 'chunked_noterm';
    }
    my %facts = %$m;
    $facts{complete} = ($variant // '') eq 'abort' ? 0 : 1;
    $facts{stream} = $stream ? 1 : 0;
    return {
        status  => $m->{status} // 200,
        reason  => ($m->{status} // 200) == 200 ? 'OK' : 'Error',
        headers => [ [ 'Content-Type', $ct ] ],
        framing => $framing,
        pieces  => $pieces,
        delay   => $stream ? 0.002 : 0,
        facts   => \%facts,
    };
}

sub _s_abort_mid {
    my @events = (_sse_events(usage => 1))[0 .. 2];
    return {
        status  => 200,
        headers => [ [ 'Content-Type', 'text/event-stream; charset=utf-8' ],
                     [ 'Cache-Control', 'no-cache' ] ],
        framing => 'chunked_noterm',
        pieces  => \@events,
        delay   => 0.005,
        facts   => {
            stream      => 1,
            complete    => 0,
            response_id => $SSE_ID,
            model       => $MODEL,
            text        => $DELTAS[0][1] . $DELTAS[1][1],
            events      => 3,
            done        => 0,
        },
    };
}

1;
