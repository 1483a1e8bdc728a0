#!/usr/bin/perl

# API keys in nginx conf (llm_observer_key, a keys file included from
# nginx.conf, keys made by "llm-evaluator keygen"), llm_observer_auth,
# per-key limits in a zone shared by 4 workers (llm_observer_limits),
# OpenAI's x-ratelimit-* headers, refusals in each provider's error shape,
# and cost (llm_observer_price, the shipped conf.d/llm_prices.conf):
#
# - every way a client sends a key; missing, unknown, expired, revoked by
#   a reload: 401; a model the key may not use: 403; over a limit: 429
#   with Retry-After; each refusal is a row saying why;
# - exactly rpm requests pass out of parallel clients on 4 workers;
#   tokens are reserved before forwarding (an oversized request never
#   reaches the upstream) and replaced by the real usage after;
#   counters survive a reload;
# - header values against hand computation;
# - cost in the rows equals the hand computation from the price list;
# - the raw keys appear nowhere: ring, PostgreSQL, logs, upstream.
#
# nginx -t errors of the key, price and zone directives are at the end.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use POSIX ();
use Time::HiRes qw(time sleep);

use LLOTest;
use LLOFixtures qw(provider_meta provider_file);
use LLOPipeline;
use LLOTok;

my $p    = pipeline_start();
my $up   = $p->{up};
my $dir  = $p->{dir};
my $ring = $p->{ring};
my $upp  = $up->{port};
my $port = free_port();
my $root = repo_root();

# ------------------------------------------------------------ keygen

sub keygen {
    my ($name, @limits) = @_;
    my ($rc, $out, $err) = run_cmd_split(evaluator_path(), 'keygen',
        '--name', $name, @limits);
    is($rc, 0, "keygen $name: exits 0") or diag($err);
    my ($key, $line) = split /\n/, $out;
    like($key, qr/^llo-[A-Za-z0-9_-]{43}$/, "keygen $name: a 256-bit key");
    is($line, "llm_observer_key sha256:" . sha256_hex($key)
        . " name=$name" . join('', map { " $_" } @limits) . ';',
        "keygen $name: the line holds the key's SHA-256, not the key");
    return ($key, $line);
}

{
    my ($rc, $out, $err) = run_cmd_split(evaluator_path(), 'keygen',
        '--name', 'x', 'rpm=abc');
    is($rc, 1, 'keygen with a bad limit: exits 1');
    like($err, qr/invalid value "rpm=abc"/, 'keygen: names the bad value');
}

my %K;
my %L;
($K{alice}, $L{alice}) = keygen('alice', 'team=ml', 'models=gpt-4o*,claude-*');
($K{bob}, $L{bob}) = keygen('bob', 'rpm=10');
($K{carol}, $L{carol}) = keygen('carol', 'tpm=1000');
($K{dave}, $L{dave}) = keygen('dave', 'expires=2020-01-01');
($K{erin}, $L{erin}) = keygen('erin', 'rpm=5');
($K{frank}, $L{frank}) = keygen('frank', 'budget=0.000001/day');
($K{gina}, $L{gina}) = keygen('gina');

# llm_observer_limit_stream cut: room for the prompt, max_tokens 5, and 3
# tokens more
my $CUT_OAI = '{"model":"gpt-4o-mini","stream":true,"max_tokens":5,'
    . '"messages":[{"role":"user","content":"Hi"}]}';
my $CUT_ANT = '{"model":"claude-sonnet-4-5","stream":true,"max_tokens":5,'
    . '"messages":[{"role":"user","content":"Hi"}]}';
my $EST_OAI = chat_prompt_tokens('o200k_base', [ [ 'user', 'Hi' ] ]);
my $EST_ANT = tiktoken_count('o200k_base', 'Hi');
($K{hank}, $L{hank}) = keygen('hank', 'tpm=' . ($EST_OAI + 5 + 3));
($K{ivan}, $L{ivan}) = keygen('ivan', 'tpm=' . ($EST_ANT + 5 + 3));

sub keys_file {
    my (@names) = @_;
    open my $fh, '>', "$dir/keys.conf" or die $!;
    print $fh "# keys of the test, made by llm-evaluator keygen\n";
    print $fh "$L{$_}\n" for @names;
    close $fh;
}

keys_file(sort keys %L);

my $O200K = rank_file('o200k_base');

sub http_conf {
    return <<"EOF";
    llm_observer_ring $ring size=4m;
    llm_observer_tokenizer o200k_base $O200K;
    llm_observer_limits zone=llm_keys:1m;
    include $dir/keys.conf;
    include $root/conf.d/llm_prices.conf;

    log_format llm '\$llm_request_id \$llm_key_name \$llm_key_team \$llm_cost_usd \$status';

    server {
        listen 127.0.0.1:$port;
        access_log $dir/llm.log llm;

        location / {
            llm_observer_auth on;
            llm_observer_limit_stream cut;
            add_header X-LLM-Id \$llm_request_id always;
            add_header X-LLM-Key \$llm_key_name always;

            # the provider's key, never the client's
            proxy_set_header Authorization "Bearer sk-provider";
            proxy_set_header x-api-key "";
            proxy_set_header x-goog-api-key "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF
}

my $ng = nginx_start(dir => $dir, workers => 4, http => http_conf());

my $CHAT = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}';

sub call {
    my (%o) = @_;
    my $path = delete $o{path} // '/v1/chat/completions';
    my @h = ([ 'x-scenario', delete $o{scenario} // 'json' ],
             [ 'Content-Type', 'application/json' ], @{ delete $o{h} // [] });
    return http_req(port => $port, path => $path, headers => \@h,
        body => delete $o{body} // $CHAT, %o);
}

sub bearer { [ [ 'Authorization', "Bearer $_[0]" ] ] }

# a reload, and every old worker gone: no call can meet the old conf
sub reload_all {
    my %old = map { $_ => 1 } nginx_workers($ng);
    return nginx_reload($ng)
        && wait_for(sub { !grep { $old{$_} } nginx_workers($ng) },
                    timeout => 10);
}

sub upstream_calls { scalar grep { $_->{method} eq 'POST' } upstream_log($up) }

# ------------------------------------------------------------ auth

for my $c ([ 'Authorization: Bearer', bearer($K{alice}), '/v1/chat/completions' ],
           [ 'x-api-key', [ [ 'x-api-key', $K{alice} ] ], '/v1/chat/completions' ],
           [ 'x-goog-api-key', [ [ 'x-goog-api-key', $K{alice} ] ], '/v1/chat/completions' ],
           [ '?key=', [], "/v1/chat/completions?key=$K{alice}" ])
{
    my ($name, $h, $path) = @$c;
    my $r = call(h => $h, path => $path);
    is($r->{status}, 200, "key in $name: 200");
    is($r->{headers}{'x-llm-key'}, 'alice', "key in $name: \$llm_key_name");
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{key_name}, 'alice', "key in $name: row key_name");
    is($w->{key_team}, 'ml', "key in $name: row key_team");
    is($w->{refused}, undef, "key in $name: not refused");
    my ($u) = reverse upstream_log($up);
    is($u->{path}, '/v1/chat/completions',
        "key in $name: the upstream gets no ?key=");
    is($u->{headers}{authorization}, 'Bearer sk-provider',
        "key in $name: the upstream gets the provider's key");
    ok(!exists $u->{headers}{'x-api-key'}
        && !exists $u->{headers}{'x-goog-api-key'},
        "key in $name: and no client key header");
}

sub refused_ok {
    my ($name, $r, $status, $why, $shape) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r->{status}, $status, "$name: $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
        "$name: JSON");
    my $j = eval { json_decode($r->{body}) } // {};
    if ($shape eq 'openai') {
        ok(defined $j->{error}{message} && exists $j->{error}{type}
            && exists $j->{error}{code}, "$name: OpenAI error shape");
    } elsif ($shape eq 'anthropic') {
        ok(($j->{type} // '') eq 'error' && $j->{error}{type}
            && $j->{error}{message}, "$name: Anthropic error shape");
    } else {
        ok(($j->{error}{code} // 0) == $status && $j->{error}{status},
            "$name: Gemini error shape");
    }
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{refused}, $why, "$name: row says refused=$why");
    is($w->{status}, $status, "$name: row status");
    return ($j, $w);
}

{
    my $n = upstream_calls();
    refused_ok('no key', call(), 401, 'missing_key', 'openai');
    refused_ok('unknown key', call(h => bearer('llo-nope')), 401,
        'unknown_key', 'openai');
    refused_ok('odd Authorization', call(h => [ [ 'Authorization', "Basic $K{alice}" ] ]),
        401, 'missing_key', 'openai');
    refused_ok('oversized key', call(h => bearer('x' x 6000)), 401,
        'unknown_key', 'openai');
    my (undef, $w) = refused_ok('expired key', call(h => bearer($K{dave})),
        401, 'expired_key', 'openai');
    is($w->{key_name}, 'dave', 'expired key: row names the key');
    my ($j) = refused_ok('model not allowed',
        call(h => bearer($K{alice}),
             body => '{"model":"o3","messages":[{"role":"user","content":"x"}]}'),
        403, 'model', 'openai');
    like($j->{error}{message} // '', qr/may not use the model `o3`/,
        'model not allowed: says which');
    refused_ok('Anthropic shape', call(path => '/v1/messages',
        h => [ [ 'x-api-key', 'llo-nope' ] ], body => '{"model":"claude-x"}'),
        401, 'unknown_key', 'anthropic');
    refused_ok('Gemini shape', call(
        path => '/v1beta/models/gemini-2.5-flash:generateContent',
        h => [ [ 'x-goog-api-key', 'llo-nope' ] ], body => '{}'),
        401, 'unknown_key', 'gemini');
    is(upstream_calls(), $n, 'refused calls never reached the upstream');
}

# ------------------------------------------------------------ rpm

# 30 clients at once on 4 workers: exactly 10 pass (GCRA, burst = rpm;
# one more every 6 s, and all of this takes far less)
{
    my @pids;
    pipe(my $rd, my $wr) or die $!;
    for my $i (1 .. 30) {
        my $pid = fork() // die $!;
        if ($pid == 0) {
            close $rd;
            my $r = call(h => bearer($K{bob}));
            syswrite($wr, "$r->{status}\n");
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $wr;
    my @st = map { chomp; $_ } <$rd>;
    waitpid($_, 0) for @pids;
    is(scalar(@st), 30, 'rpm=10: 30 parallel calls answered');
    is(scalar(grep { $_ == 200 } @st), 10, 'rpm=10: exactly 10 passed');
    is(scalar(grep { $_ == 429 } @st), 20, 'rpm=10: 20 refused with 429');

    my $r = call(h => bearer($K{bob}));
    is($r->{status}, 429, 'rpm=10: the next one is refused too');
    my $ra = $r->{headers}{'retry-after'} // 0;
    ok($ra >= 1 && $ra <= 6, "rpm=10: Retry-After $ra s (one request every 6 s)");
    is($r->{headers}{'x-ratelimit-limit-requests'}, 10, '429: limit-requests');
    is($r->{headers}{'x-ratelimit-remaining-requests'}, 0,
        '429: remaining-requests 0');
    my $j = eval { json_decode($r->{body}) } // {};
    is($j->{error}{code}, 'rate_limit_exceeded', '429: code rate_limit_exceeded');
    is($j->{error}{type}, 'requests', '429: type requests');
}

# header values by hand: a fresh rpm=5 key
{
    my $r = call(h => bearer($K{erin}));
    is($r->{headers}{'x-ratelimit-limit-requests'}, 5, 'erin: limit 5');
    is($r->{headers}{'x-ratelimit-remaining-requests'}, 4, 'erin: 4 remain');
    is($r->{headers}{'x-ratelimit-reset-requests'}, '12s',
        'erin: full again in 60/5 = 12 s');
    ok(!exists $r->{headers}{'x-ratelimit-limit-tokens'},
        'erin: no token headers without tpm');
    call(h => bearer($K{erin})) for 1 .. 4;
    is(call(h => bearer($K{erin}))->{status}, 429, 'erin: the 6th is refused');

    # counters survive a reload
    ok(reload_all(), 'reload');
    my $r2 = call(h => bearer($K{erin}));
    is($r2->{status}, 429, 'erin: still refused after the reload');
}

# ------------------------------------------------------------ tokens

{
    my $f = LLOFixtures::expected_facts('json');
    my $est = chat_prompt_tokens('o200k_base', [ [ 'user', 'Hi' ] ]);
    my $max = 100;
    my $body = qq({"model":"gpt-4o-mini","max_tokens":$max,"messages":[{"role":"user","content":"Hi"}]});

    my $t0 = time;
    my $r = call(h => bearer($K{carol}), body => $body);
    is($r->{status}, 200, 'carol: 200');
    is($r->{headers}{'x-ratelimit-limit-tokens'}, 1000, 'carol: limit-tokens');
    is($r->{headers}{'x-ratelimit-remaining-tokens'}, 1000 - ($est + $max),
        "carol: remaining = 1000 - (prompt $est + max_tokens $max)");

    # the reservation is replaced by the real usage at the end (the
    # record is written then: wait for it)
    drained_row($p, $r->{headers}{'x-llm-id'});
    my $r2 = call(h => bearer($K{carol}), body => $body);
    my $dt = time - $t0;
    my $want = 1000 - $f->{total_tokens} - ($est + $max);
    my $got = $r2->{headers}{'x-ratelimit-remaining-tokens'} // -1;
    ok($got >= $want && $got <= $want + int(1000 * $dt / 60) + 1,
        "carol: then remaining = 1000 - used $f->{total_tokens} - reserved "
        . ($est + $max) . " (+ refill): $got");

    # a prompt larger than the whole minute: refused before forwarding
    my $n = upstream_calls();
    my $big = join ' ', map { "word$_" } 1 .. 1500;
    my $r3 = call(h => bearer($K{carol}),
        body => qq({"model":"gpt-4o-mini","messages":[{"role":"user","content":"$big"}]}));
    is($r3->{status}, 429, 'carol: oversized request refused');
    like($r3->{body}, qr/Request too large for tokens per minute/,
        'carol: says the request is too large');
    ok(!exists $r3->{headers}{'retry-after'}, 'carol: no Retry-After (never fits)');
    is(upstream_calls(), $n, 'carol: the oversized request never reached the upstream');
    my $w = drained_row($p, $r3->{headers}{'x-llm-id'});
    is($w->{refused}, 'tpm', 'carol: row says refused=tpm');
    ok($w->{prompt_tokens_estimate} > 1000, 'carol: row has the prompt count');
}

# ------------------------------------------------------------ cut

{
    my $full = LLOFixtures::expected_body('sse_nousage');
    my $r = call(h => bearer($K{hank}), scenario => 'sse_nousage',
        body => $CUT_OAI);
    is($r->{status}, 200, 'cut, OpenAI: 200');
    my @ev = sse_events($r->{body});
    is($ev[-1], '[DONE]', 'cut, OpenAI: the stream ends with [DONE]');
    my $last = eval { json_decode($ev[-2]) } // {};
    is($last->{choices}[0]{finish_reason}, 'length',
        'cut, OpenAI: then a chunk with finish_reason length');
    is($last->{model}, 'gpt-4o-mini-2024-07-18', 'cut, OpenAI: its model');
    ok(scalar(@ev) < scalar(sse_events($full)), 'cut, OpenAI: fewer events');
    my $i = index($r->{body}, "data: {\"id\":\"$last->{id}\",\"object\":\"chat.completion.chunk\",\"created\":$last->{created}");
    ok($i > 0 && substr($full, 0, $i) eq substr($r->{body}, 0, $i)
        && substr($full, $i - 2, 2) eq "\n\n",
        'cut, OpenAI: what came before is the upstream\'s, up to an event end');
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{cut}, 1, 'cut, OpenAI: row says cut');
    is($w->{finish_reason}, 'length', 'cut, OpenAI: row finish_reason length');
    is($w->{incomplete}, 0, 'cut, OpenAI: not incomplete');
    is($w->{completion_tokens}, tiktoken_count('o200k_base', sse_text($r->{body})),
        'cut, OpenAI: completion_tokens = what the client got');
    ok($w->{completion_tokens} > 8, 'cut, OpenAI: cut after going over 5 + 3');

    my $ra = call(h => [ [ 'x-api-key', $K{ivan} ] ], path => '/v1/messages',
        scenario => 'file:anthropic_messages_stream', body => $CUT_ANT);
    is($ra->{status}, 200, 'cut, Anthropic: 200');
    my @names = $ra->{body} =~ /^event: (\S+)/mg;
    is_deeply([ @names[-2, -1] ], [ 'message_delta', 'message_stop' ],
        'cut, Anthropic: ends with message_delta, message_stop');
    like($ra->{body}, qr/"stop_reason":"max_tokens"/,
        'cut, Anthropic: stop_reason max_tokens');
    my $wa = drained_row($p, $ra->{headers}{'x-llm-id'});
    is($wa->{cut}, 1, 'cut, Anthropic: row says cut');
    is($wa->{finish_reason}, 'max_tokens', 'cut, Anthropic: row finish_reason');
}

# ------------------------------------------------------------ budget

{
    my $r = call(h => bearer($K{frank}));
    is($r->{status}, 200, 'frank: the first call passes (nothing spent yet)');
    # its cost is charged when it ends (its record is written then)
    ok(drained_row($p, $r->{headers}{'x-llm-id'})->{cost_usd} > 0,
        'frank: the first call cost something');
    my $r2 = call(h => bearer($K{frank}));
    is($r2->{status}, 429, 'frank: then the daily budget is spent');
    my $j = eval { json_decode($r2->{body}) } // {};
    is($j->{error}{code}, 'insufficient_quota', 'frank: insufficient_quota');
}

# ------------------------------------------------------------ cost

sub prices {
    my %p;
    open my $fh, '<', "$root/conf.d/llm_prices.conf" or die $!;
    while (my $l = <$fh>) {
        next unless $l =~ /^\s*llm_observer_price\s+(\S+)\s+(.*?);/;
        my ($m, $rest) = ($1, $2);
        $p{$m} = { map { split /=/ } split ' ', $rest };
    }
    return \%p;
}

sub price_for {
    my ($P, $model) = @_;
    return $P->{$model} if $P->{$model};
    my ($best) = sort { length $b <=> length $a }
        grep { /\*$/ && index($model, substr($_, 0, -1)) == 0 } keys %$P;
    return $best ? $P->{$best} : undef;
}

# USD, as numeric(20,9): nano-USD rounded half up
sub cost {
    my ($pr, $w) = @_;
    my $cached = $w->{cached_tokens} // 0;
    my $cw = $w->{cache_creation_tokens} // 0;
    my $plain = ($w->{prompt_tokens} // 0) - $cached - $cw;
    $plain = 0 if $plain < 0;
    my $n = $plain * $pr->{input} + $cached * ($pr->{cached_input} // $pr->{input})
        + $cw * ($pr->{cache_write} // $pr->{input})
        + ($w->{completion_tokens} // 0) * $pr->{output};
    # $n is USD per 1M tokens times tokens: nano-USD = $n * 1000
    my $nano = int($n * 1000 + 0.5);
    return sprintf('%d.%09d', int($nano / 1e9), $nano % 1e9);
}

{
    my $P = prices();
    for my $c ([ 'openai', 'json', '/v1/chat/completions', $CHAT ],
               [ 'anthropic, cache parts', 'file:anthropic_messages', '/v1/messages',
                 provider_file('anthropic_messages', 'request') ],
               [ 'gemini, cached', 'file:gemini_generate',
                 provider_meta('gemini_generate')->{uri},
                 provider_file('gemini_generate', 'request') ])
    {
        my ($name, $sc, $path, $body) = @$c;
        my $r = call(h => [ [ 'x-api-key', $K{gina} ] ],
            scenario => $sc, path => $path, body => $body);
        my $w = drained_row($p, $r->{headers}{'x-llm-id'});
        my $pr = price_for($P, $w->{response_model} // '');
        ok($pr, "cost, $name: a price for $w->{response_model}") or next;
        is(psql($p->{pg}, "SELECT cost_usd::text FROM llm_requests WHERE id = '$w->{id}'"),
            cost($pr, $w), "cost, $name: row cost = hand computation");
    }
}

# ------------------------------------------------------------ revoke

keys_file(grep { $_ ne 'alice' } sort keys %L);
ok(reload_all(), 'reload without alice');
refused_ok('revoked by reload', call(h => bearer($K{alice})), 401,
    'unknown_key', 'openai');

# ------------------------------------------------------------ leaks

{
    ev($p, 'drain');
    my @where;
    my $slurp = sub {
        open my $fh, '<:raw', $_[0] or return '';
        local $/;
        return scalar <$fh>;
    };
    my %blob = (
        ring => $slurp->($ring),
        'error.log' => $slurp->($ng->{error_log}),
        'access.log' => $slurp->("$dir/llm.log"),
        'evaluator log' => $slurp->("$dir/evaluator.log"),
        postgres => psql($p->{pg}, 'SELECT string_agg(t::text, chr(10)) FROM llm_requests t'),
        upstream => join("\n", map { "$_->{path} " . join(' ', %{ $_->{headers} }) . " $_->{body}" } upstream_log($up)),
    );
    for my $k (sort keys %K) {
        for my $b (sort keys %blob) {
            ok(index($blob{$b}, $K{$k}) < 0, "leak: ${k}'s key is not in the $b");
        }
    }
}

error_log_ok($ng, allow => [ 'is written in clear' ]);
nginx_stop($ng);

# ------------------------------------------------------------ nginx -t

sub conf_fails {
    my ($name, $http, $re) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir,
        http => "    llm_observer_ring $ring size=4m;\n$http"), dir => $dir);
    isnt($rc, 0, "nginx -t, $name: fails");
    like($out, $re, "nginx -t, $name: says why");
}

my $D = sha256_hex('x');
conf_fails('bad digest', "    llm_observer_key sha256:abc name=x;\n",
    qr/invalid digest "sha256:abc".* in "llm_observer_key" directive/);
conf_fails('key in clear', "    llm_observer_key sk-123 name=x;\n",
    qr/a key must be given as sha256:<hex>, or plain:<key>/);
conf_fails('unknown parameter', "    llm_observer_key sha256:$D name=x colour=red;\n",
    qr/unknown parameter "colour=red" in "llm_observer_key" directive/);
conf_fails('bad limit', "    llm_observer_key sha256:$D name=x rpm=-3;\n",
    qr/invalid value "rpm=-3"/);
conf_fails('duplicate digests', "    llm_observer_key sha256:$D name=x;\n"
    . "    llm_observer_key sha256:$D name=y;\n",
    qr/duplicate key digest in "llm_observer_key" directive in \S+:\d+, already declared as "x" in \S+:\d+/);
conf_fails('bad price', "    llm_observer_price gpt-x input=abc output=1;\n",
    qr/invalid value "input=abc".* in "llm_observer_price" directive/);
conf_fails('price without output', "    llm_observer_price gpt-x input=1;\n",
    qr/missing parameter "output=".* in "llm_observer_price"/);
conf_fails('duplicate price', "    llm_observer_price gpt-x input=1 output=1;\n"
    . "    llm_observer_price gpt-x input=2 output=2;\n",
    qr/duplicate model "gpt-x" in "llm_observer_price" directive/);
conf_fails('bad limit_stream',
    "    server { listen 127.0.0.1:1; llm_observer_limit_stream halt; }\n",
    qr/invalid value "halt" in "llm_observer_limit_stream" directive, it must be "finish" or "cut"/);
conf_fails('bad zone', "    llm_observer_limits zone=k;\n",
    qr/invalid value "zone=k" in "llm_observer_limits" directive/);
{
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir,
        http => "    llm_observer_ring $ring size=4m;\n"
            . "    llm_observer_key plain:sk-test name=t;\n"), dir => $dir);
    is($rc, 0, 'plain: key accepted');
    like($out, qr/\[warn\].*key "t" is written in clear/, 'plain: key warned about');
    unlike($out, qr/sk-test/, 'plain: the warning does not show the key');
}
{
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir,
        http => "    include $root/conf.d/llm_prices.conf;\n"), dir => $dir);
    is($rc, 0, 'conf.d/llm_prices.conf passes nginx -t') or diag($out);
}

done_testing;
