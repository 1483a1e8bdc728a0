#!/usr/bin/perl

# Request bodies as llm_observer sees them: a 2 MB body that nginx buffers
# to a temp file, chunked bodies, unbuffered proxying; the upstream gets the
# exact bytes and the row has the model and prompt.  llm_observer_max_text
# cuts text at a UTF-8 boundary; a malformed body is proxied unchanged and
# named in parse_error; llm_observer off means no row.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);

use LLOTest;
use LLOFixtures qw(json_escape);
use LLOPipeline;

my $p   = pipeline_start();
my $up  = $p->{up};
my $pg  = $p->{pg};
my $dir = $p->{dir};
my $ring = $p->{ring};

sub valid_utf8 {
    my ($b) = @_;
    return utf8::decode(my $copy = $b);
}

my $port  = free_port();
my $port2 = free_port();
my $upp = $up->{port};
my $ng = nginx_start(dir => $dir, http => <<"EOF");
    llm_observer_ring $ring size=32m;
    llm_observer on;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    add_header X-LLM-Id \$llm_request_id always;
    add_header X-Req-Id \$request_id always;

    server {
        listen 127.0.0.1:$port;

        location /big/ {
            client_body_buffer_size 16k;
            client_max_body_size 8m;
            llm_observer_max_text 4m;
            proxy_pass http://127.0.0.1:$upp/;
        }
        location /big-unbuffered/ {
            client_body_buffer_size 16k;
            client_max_body_size 8m;
            llm_observer_max_text 4m;
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:$upp/;
        }
        location /cut/ {
            llm_observer_max_text 64;
            proxy_max_temp_file_size 0;
            proxy_pass http://127.0.0.1:$upp/;
        }
        location /zero/ {
            llm_observer_max_text 0;
            proxy_pass http://127.0.0.1:$upp/;
        }
        location /small/ {
            client_max_body_size 1k;
            proxy_pass http://127.0.0.1:$upp/;
        }
        location /off/ {
            llm_observer off;
            proxy_pass http://127.0.0.1:$upp/;
        }
    }

    server {
        listen 127.0.0.1:$port2;
        location / {
            proxy_pass http://127.0.0.1:$upp;
        }
        location /quiet/ {
            llm_observer off;
            proxy_pass http://127.0.0.1:$upp/;
        }
    }
EOF

my $JSON_BODY = LLOFixtures::expected_body('json');
my $JSON_FACTS = LLOFixtures::expected_facts('json');
my %observed;    # id => what

sub call {
    my (%o) = @_;
    my $scenario = delete $o{scenario} // 'echo';
    my $r = http_req(port => delete $o{port} // $port,
        path => delete $o{path},
        headers => [ [ 'x-scenario', $scenario ], [ 'Content-Type', 'application/json' ] ],
        read_timeout => 20, %o);
    return $r;
}

# ------------------------------------------------ 2 MB bodies, temp file

my $SYS = "Summarise the log below. Use \"quotes\" and caf\xc3\xa9.";
my $big = '';
for (my $i = 0; length($big) < 2 * 1024 * 1024; $i++) {
    $big .= sprintf("%06d w\xc3\xb6rld \xe4\xbd\xa0\xe5\xa5\xbd \"q\" a\\b\ttab\n", $i);
}
# the model and max_tokens come last: the row only has them if the parser
# saw the whole body
my $BIG_BODY = '{"messages":[{"role":"system","content":"' . json_escape($SYS) . '"},'
    . '{"role":"user","content":"' . json_escape($big) . '"}],'
    . '"stream":false,"max_tokens":77,"model":"gpt-4o-big"}';
ok(length($BIG_BODY) > 2 * 1024 * 1024, 'request body is over 2 MB');

my @bigcases = (
    [ 'content-length, buffered', '/big/', 0 ],
    [ 'chunked, buffered', '/big/', 1 ],
    [ 'content-length, proxy_request_buffering off', '/big-unbuffered/', 0 ],
    [ 'chunked, proxy_request_buffering off', '/big-unbuffered/', 1 ],
);
my %bigid;
for my $c (@bigcases) {
    my ($name, $loc, $chunked) = @$c;
    my $r = call(path => "${loc}v1/chat/completions", body => $BIG_BODY,
        ($chunked ? (chunked => 1, chunk_size => 100_000, chunk_delay => 0.001) : ()));
    is($r->{status}, 200, "2 MB $name: status");
    is($r->{headers}{'x-body-len'}, length $BIG_BODY, "2 MB $name: upstream got the length");
    is($r->{headers}{'x-body-sha256'}, sha256_hex($BIG_BODY),
        "2 MB $name: upstream got identical bytes");
    ok($r->{body} eq $JSON_BODY, "2 MB $name: client body byte-identical");
    like($r->{headers}{'x-llm-id'} // '', $UUID, "2 MB $name: X-LLM-Id");
    $bigid{$name} = $r->{headers}{'x-llm-id'} // 'none';
}
like(do { local (@ARGV, $/) = $ng->{error_log}; <> },
    qr/\[warn\] .*a client request body is buffered to a temporary file/,
    'nginx buffered a 2 MB body to a temp file');

drain_ok($p, '2 MB bodies', values %bigid);
for my $c (@bigcases) {
    my $name = $c->[0];
    my ($w) = rows($p, "id = '$bigid{$name}'");
    $w //= {};
    is($w->{request_model}, 'gpt-4o-big', "2 MB $name: request_model (sent last)");
    is($w->{max_tokens}, 77, "2 MB $name: max_tokens");
    is($w->{stream}, 0, "2 MB $name: stream false");
    ok(($w->{prompt_text} // '') eq "$SYS\n$big", "2 MB $name: prompt_text is the whole prompt")
        or diag('got ' . length($w->{prompt_text} // '') . ' bytes, expected '
            . length("$SYS\n$big"));
    is($w->{prompt_truncated}, 0, "2 MB $name: prompt_truncated false");
    is($w->{parse_error}, undef, "2 MB $name: parse_error NULL");
    ok(($w->{bytes_in} // 0) >= length $BIG_BODY, "2 MB $name: bytes_in >= body length");
    is($w->{response_model}, $JSON_FACTS->{model}, "2 MB $name: response_model");
    ok(($w->{response_text} // '') eq $JSON_FACTS->{text}, "2 MB $name: response_text");
    is($w->{status}, 200, "2 MB $name: status");
    $observed{ $bigid{$name} } = $name;
}

# ------------------------------------------------ llm_observer_max_text 64

my $CUT_PROMPT = 'ab' . ("\xe4\xbd\xa0" x 50);    # byte 64 is inside a 你
{
    my $body = qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":"$CUT_PROMPT"}]});
    my $r = call(path => '/cut/v1/chat/completions', scenario => 'big', body => $body);
    my $full = LLOFixtures::expected_facts('big')->{text};
    is($r->{status}, 200, 'max_text 64: status');
    ok($r->{body} eq LLOFixtures::expected_body('big'), 'max_text 64: client body byte-identical');
    my $id = $r->{headers}{'x-llm-id'} // 'none';

    # prompt exactly at the limit, then a separator that does not fit
    my $b2 = qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":")
        . ('y' x 64) . '"}]}';
    my $r2 = call(path => '/cut/v1/chat/completions', scenario => 'json', body => $b2);
    my $b3 = qq({"model":"gpt-4o-mini","messages":[{"role":"system","content":")
        . ('x' x 64) . '"},{"role":"user","content":"more"}]}';
    my $r3 = call(path => '/cut/v1/chat/completions', scenario => 'json', body => $b3);

    drain_ok($p, 'max_text 64', map { $_->{headers}{'x-llm-id'} // 'none' } $r, $r2, $r3);
    my ($w) = rows($p, "id = '$id'");
    $w //= {};
    for my $k ([ 'prompt', $CUT_PROMPT ], [ 'response', $full ]) {
        my ($what, $text) = @$k;
        my $t = $w->{"${what}_text"} // '';
        ok(length($t) <= 64, "max_text 64: ${what}_text is at most 64 bytes (" . length($t) . ')');
        ok(length($t) > 64 - 4, "max_text 64: ${what}_text is cut at most 3 bytes short");
        ok(substr($text, 0, length $t) eq $t, "max_text 64: ${what}_text is a prefix of the full text");
        ok(valid_utf8($t), "max_text 64: ${what}_text is valid UTF-8 (cut at a boundary)");
        is($w->{"${what}_truncated"}, 1, "max_text 64: ${what}_truncated true");
    }
    is(length($w->{prompt_text} // ''), 62, 'max_text 64: prompt cut before the 你 that spans byte 64');
    is($w->{request_model}, 'gpt-4o-mini', 'max_text 64: request_model');
    is($w->{completion_tokens}, 51200, 'max_text 64: usage after the cut text still parsed');

    ($w) = rows($p, "id = '" . ($r2->{headers}{'x-llm-id'} // 'none') . "'");
    is($w->{prompt_text}, 'y' x 64, 'max_text 64: a 64-byte prompt is kept whole');
    is($w->{prompt_truncated}, 0, 'max_text 64: a 64-byte prompt is not truncated');
    ok(($w->{response_text} // '') eq $JSON_FACTS->{text}, 'max_text 64: short response kept whole');
    is($w->{response_truncated}, 0, 'max_text 64: short response not truncated');

    ($w) = rows($p, "id = '" . ($r3->{headers}{'x-llm-id'} // 'none') . "'");
    is($w->{prompt_text}, 'x' x 64, 'max_text 64: no room for a second message');
    is($w->{prompt_truncated}, 1, 'max_text 64: second message dropped: prompt_truncated true');
    $observed{$_} = 'cut' for $id, map { $_->{headers}{'x-llm-id'} } $r2, $r3;
}

# llm_observer_max_text 0: no text at all, the rest as usual
{
    my $r = call(path => '/zero/v1/chat/completions', scenario => 'json',
        body => qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}));
    is($r->{status}, 200, 'max_text 0: status');
    my $id = $r->{headers}{'x-llm-id'} // 'none';
    drain_ok($p, 'max_text 0', $id);
    my ($w) = rows($p, "id = '$id'");
    $w //= {};
    is($w->{prompt_text} // '', '', 'max_text 0: prompt_text empty');
    is($w->{response_text} // '', '', 'max_text 0: response_text empty');
    is($w->{prompt_truncated}, 1, 'max_text 0: prompt_truncated true');
    is($w->{response_truncated}, 1, 'max_text 0: response_truncated true');
    is($w->{request_model}, 'gpt-4o-mini', 'max_text 0: request_model');
    is($w->{total_tokens}, $JSON_FACTS->{total_tokens}, 'max_text 0: total_tokens');
    $observed{$id} = 'zero';
}

# ------------------------------------------------ malformed request bodies

{
    my $bad = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],,"max_tokens":5}';
    # the second ',' is wrong; the error names it counting from 1
    my $at = index($bad, ',,') + 2;
    for my $c ([ 'content-length', '/big/', 0 ], [ 'chunked in 10-byte pieces, unbuffered', '/big-unbuffered/', 1 ]) {
        my ($name, $loc, $chunked) = @{$c};
        my $r = call(path => "${loc}v1/chat/completions", body => $bad,
            ($chunked ? (chunked => 1, chunk_size => 10) : ()));
        is($r->{status}, 200, "malformed ($name): proxied, status 200");
        is($r->{headers}{'x-body-sha256'}, sha256_hex($bad),
            "malformed ($name): upstream got identical bytes");
        ok($r->{body} eq $JSON_BODY, "malformed ($name): client body byte-identical");
        my $id = $r->{headers}{'x-llm-id'} // 'none';
        drain_ok($p, "malformed ($name)", $id);
        my ($w) = rows($p, "id = '$id'");
        $w //= {};
        like($w->{parse_error} // '', qr/^invalid JSON at byte \Q$at\E of request\b/,
            "malformed ($name): parse_error names byte $at");
        is($w->{request_model}, 'gpt-4o-mini', "malformed ($name): model before the error kept");
        is($w->{max_tokens}, undef, "malformed ($name): nothing after the error");
        is($w->{response_model}, $JSON_FACTS->{model}, "malformed ($name): response still observed");
        is($w->{total_tokens}, $JSON_FACTS->{total_tokens}, "malformed ($name): usage still observed");
        is($w->{status}, 200, "malformed ($name): row status 200");
        $observed{$id} = "malformed $name";
    }
}

# ------------------------------------------------ refused before proxying

{
    my $r = call(path => '/small/v1/chat/completions', body => '{"model":"m","x":"' . ('z' x 5000) . '"}');
    is($r->{status}, 413, 'body over client_max_body_size: 413');
    my $id = $r->{headers}{'x-llm-id'} // 'none';
    like($id, $UUID, '413: X-LLM-Id');
    drain_ok($p, '413', $id);
    my ($w) = rows($p, "id = '$id'");
    is($w->{status}, 413, '413: a row with status 413');
    is($w->{upstream_status}, undef, '413: upstream_status NULL');
    $observed{$id} = '413';
}

# ------------------------------------------------ llm_observer off

{
    my $r = call(path => '/off/v1/chat/completions', scenario => 'json', body => '{"model":"gpt-4o-mini"}');
    is($r->{status}, 200, 'llm_observer off: proxied');
    ok($r->{body} eq $JSON_BODY, 'llm_observer off: body byte-identical');
    ok(!exists $r->{headers}{'x-llm-id'}, 'llm_observer off: $llm_request_id is empty');
    my $rid_off = $r->{headers}{'x-req-id'} // 'none';

    # server 2: on from the http level, off in /quiet/
    my $r_on = call(port => $port2, path => '/v1/chat/completions', scenario => 'json',
        body => '{"model":"gpt-4o-inherited"}');
    is($r_on->{status}, 200, 'http-level on: proxied');
    like($r_on->{headers}{'x-llm-id'} // '', $UUID, 'http-level on: observed');
    my $r_q = call(port => $port2, path => '/quiet/v1/chat/completions', scenario => 'json',
        body => '{"model":"gpt-4o-quiet"}');
    is($r_q->{status}, 200, 'http-level on, location off: proxied');
    ok($r_q->{body} eq $JSON_BODY, 'http-level on, location off: body byte-identical');
    ok(!exists $r_q->{headers}{'x-llm-id'}, 'http-level on, location off: not observed');
    my $rid_q = $r_q->{headers}{'x-req-id'} // 'none';

    drain_ok($p, 'off', $r_on->{headers}{'x-llm-id'} // 'none');
    is(psql($pg, "SELECT count(*) FROM llm_requests WHERE request_id IN ('$rid_off', '$rid_q')"),
        0, 'llm_observer off: no row');
    my ($w) = rows($p, "id = '" . ($r_on->{headers}{'x-llm-id'} // 'none') . "'");
    is($w->{request_model}, 'gpt-4o-inherited', 'http-level on: a row');
    $observed{ $r_on->{headers}{'x-llm-id'} // 'none' } = 'inherited';
}

is(psql($pg, 'SELECT count(*) FROM llm_requests'), scalar(keys %observed),
    'exactly one row per observed call, none for the others');

my ($rc, $out) = ev($p, 'ring-stat');
like($out, qr/^drops 0$/m, 'ring-stat: no drops');

nginx_stop($ng);
error_log_ok($ng, allow => [
    qr/\[error\] .*client intended to send too large body: \d+ bytes/,
]);

done_testing;
