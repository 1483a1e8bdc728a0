#!/usr/bin/perl

# llm_observer_tokenizer and llm_observer_tokenizer_model in a real nginx:
# bad rank files and bad lines fail "nginx -t" naming the file, line and
# value; the model map picks the encoding (the conf's entries first, then
# tiktoken's table); an OpenAI stream without usage is counted exactly
# (tiktoken's ids, checked against the npm package) and flagged
# "tokenizer"; another provider's model is flagged "estimate";
# $llm_prompt_tokens_estimate is known before the request is forwarded
# (it is sent upstream in a header here).

use strict;
use warnings;

use Test::More;

use LLOTest;
use LLOFixtures;
use LLOPipeline;
use LLOTok;

my $p    = pipeline_start();
my $up   = $p->{up};
my $dir  = $p->{dir};
my $ring = $p->{ring};
my $upp  = $up->{port};

my $O200K  = rank_file('o200k_base');
my $CL100K = rank_file('cl100k_base');

# ------------------------------------------------------------ nginx -t

sub conf_fails {
    my ($name, $http, $re) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir,
        http => "    llm_observer_ring $ring size=4m;\n$http"), dir => $dir);
    isnt($rc, 0, "nginx -t, $name: fails");
    like($out, $re, "nginx -t, $name: says why");
}

my $ranks = do {
    open my $fh, '<:raw', $CL100K or die;
    local $/;
    <$fh>;
};
my @lines = split /\n/, $ranks;

my $bad_b64 = spew("$dir/bad-b64.tiktoken",
    join("\n", @lines[0 .. 1], '!!!notbase64 2', @lines[3 .. $#lines]) . "\n");
my $bad_rank = spew("$dir/bad-rank.tiktoken",
    join("\n", @lines[0 .. 4], 'IQ== x5', @lines[6 .. $#lines]) . "\n");
my $short = spew("$dir/short.tiktoken", join("\n", @lines[0 .. 99]) . "\n");

conf_fails('missing rank file',
    "    llm_observer_tokenizer o200k_base $dir/none.tiktoken;\n",
    qr/\Q$dir\E\/none\.tiktoken.*No such file/);
conf_fails('bad base64 on line 3',
    "    llm_observer_tokenizer cl100k_base $bad_b64;\n",
    qr/\Q$bad_b64\E:3:/);
conf_fails('bad rank on line 6',
    "    llm_observer_tokenizer cl100k_base $bad_rank;\n",
    qr/\Q$bad_rank\E:6:/);
conf_fails('truncated rank file',
    "    llm_observer_tokenizer cl100k_base $short;\n",
    qr/\Q$short\E/);
conf_fails('unknown encoding',
    "    llm_observer_tokenizer p99k_base $CL100K;\n",
    qr/p99k_base/);
conf_fails('duplicate encoding',
    "    llm_observer_tokenizer cl100k_base $CL100K;\n"
    . "    llm_observer_tokenizer cl100k_base $CL100K;\n",
    qr/duplicate encoding "cl100k_base" in "llm_observer_tokenizer"/);
conf_fails('model map before its encoding',
    "    llm_observer_tokenizer_model claude-* o200k_base;\n",
    qr/unknown encoding "o200k_base" in "llm_observer_tokenizer_model"/);
conf_fails('star inside a model',
    "    llm_observer_tokenizer o200k_base $O200K;\n"
    . "    llm_observer_tokenizer_model cl*ude o200k_base;\n",
    qr/invalid model "cl\*ude" in "llm_observer_tokenizer_model"/);
conf_fails('bad provider',
    "    server { listen 127.0.0.1:1; llm_observer_provider cohere; }\n",
    qr/invalid value "cohere" in "llm_observer_provider" directive, it must be "auto", "openai", "anthropic", "gemini", "mistral", "groq", "deepseek", "vllm", "ollama" or "azure"/);
conf_fails('tokenizer in a server',
    "    server { listen 127.0.0.1:1;\n"
    . "        llm_observer_tokenizer o200k_base $O200K; }\n",
    qr/"llm_observer_tokenizer" directive is not allowed here/);

# the shipped example passes nginx -t (paths and host made local)
{
    my $ex = do {
        open my $fh, '<', repo_root() . '/conf.d/nginx-llm-observer.conf'
            or die $!;
        local $/;
        <$fh>;
    };
    my $tdir = repo_root() . '/build/tiktoken';
    $ex =~ s{/usr/share/llm-observer/tiktoken}{$tdir}g;
    $ex =~ s{/etc/nginx/llm_keys\.conf}{repo_root() . '/conf.d/llm_keys.conf'}e;
    $ex =~ s{/usr/share/llm-observer/llm_prices\.conf}{repo_root() . '/conf.d/llm_prices.conf'}e;
    $ex =~ s{/dev/shm/llm_observer\.ring}{$dir/example.ring}g;
    $ex =~ s{/var/log/nginx/}{$dir/}g;
    $ex =~ s{api\.openai\.com:443}{127.0.0.1:443}g;
    $ex =~ s{listen 8080;}{'listen 127.0.0.1:' . free_port() . ';'}e;
    my ($rc, $out) = nginx_test_conf(nginx_conf_text(dir => $dir,
        http => $ex), dir => $dir);
    is($rc, 0, 'conf.d/nginx-llm-observer.conf passes nginx -t')
        or diag($out);
}

# ------------------------------------------------------------ counting

my $port = free_port();
my $ng = nginx_start(dir => $dir, http => <<"EOF");
    llm_observer_ring $ring size=4m;
    llm_observer_tokenizer o200k_base $O200K;
    llm_observer_tokenizer cl100k_base $CL100K;
    llm_observer_tokenizer_model my-finetune* cl100k_base;

    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        llm_observer_max_text 1m;

        location / {
            add_header X-LLM-Id \$llm_request_id always;
            add_header X-LLM-Source \$llm_token_source always;
            proxy_set_header X-Prompt-Tokens \$llm_prompt_tokens_estimate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://127.0.0.1:$upp;
        }

        location /anthropic/ {
            llm_observer_provider anthropic;
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF

my $nousage = LLOFixtures::expected_facts('sse_nousage');

# a prompt of many scripts, digits, blanks and special-token text
my $PROMPT = "Caf\xc3\xa9 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
    . "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb "
    . "1234567890   \t\n\n  it's <|endoftext|> done";
(my $PROMPT_JSON = LLOFixtures::json_escape($PROMPT));

sub chat_body {
    my ($model) = @_;
    return qq({"messages":[{"role":"system","content":"Be brief."},)
        . qq({"role":"user","name":"ann","content":"$PROMPT_JSON"}],)
        . qq("model":"$model","stream":true});
}

my @MSGS = ([ 'system', 'Be brief.' ], [ 'user', $PROMPT, 'ann' ]);

for my $c ([ 'gpt-4o-mini', 'o200k_base', 'tokenizer' ],
           [ 'gpt-4-0613', 'cl100k_base', 'tokenizer' ],
           [ 'gpt-5.1', 'o200k_base', 'tokenizer' ],
           [ 'my-finetune-7', 'cl100k_base', 'tokenizer' ],
           [ 'llama-3-70b', 'o200k_base', 'tokenizer' ])
{
    my ($model, $enc, $src) = @$c;
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'sse_nousage' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => chat_body($model));
    is($r->{status}, 200, "$model: 200");
    my ($u) = grep { $_->{scenario} eq 'sse_nousage' } reverse upstream_log($up);
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    my $want_prompt = chat_prompt_tokens($enc, \@MSGS);
    is($w->{tokenizer}, $enc, "$model: counted with $enc");
    is($w->{prompt_tokens_estimate}, $want_prompt,
        "$model: prompt = tiktoken's chat count ($want_prompt)");
    is($u->{headers}{'x-prompt-tokens'}, $want_prompt,
        "$model: \$llm_prompt_tokens_estimate was known before forwarding");
    is($w->{prompt_tokens}, $want_prompt, "$model: prompt_tokens");
    my $want = tiktoken_count($enc, $nousage->{text});
    is($w->{completion_tokens}, $want,
        "$model: completion = tiktoken's count of the streamed text ($want)");
    is($w->{total_tokens}, $want_prompt + $want, "$model: total_tokens");
    is($w->{token_source}, $model eq 'llama-3-70b' ? 'estimate' : $src,
        "$model: token_source");
    is($r->{headers}{'x-llm-source'}, 'none',
        "$model: no counts yet when the headers went out");
}

# a whole JSON body without usage (an OpenAI-compatible server)
{
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'json_nousage' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => chat_body('gpt-4o-mini') =~ s/"stream":true/"stream":false/r);
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    my $text = LLOFixtures::expected_facts('json_nousage')->{text};
    is($w->{token_source}, 'tokenizer', 'JSON without usage: token_source tokenizer');
    is($w->{completion_tokens}, tiktoken_count('o200k_base', $text),
        'JSON without usage: completion = tiktoken\'s count of the answer');
    is($w->{prompt_tokens}, chat_prompt_tokens('o200k_base', \@MSGS),
        'JSON without usage: prompt = the count made before forwarding');
}

# a stream with usage: the provider's counts, nothing tokenized
{
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'sse_usage' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => chat_body('gpt-4o-mini'));
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    my $f = LLOFixtures::expected_facts('sse_usage');
    is($w->{token_source}, 'provider', 'usage sent: token_source provider');
    is($w->{completion_tokens}, $f->{completion_tokens},
        'usage sent: the provider\'s completion_tokens');
}

# a long stream without usage (over the 64 KiB kept before tokenizing)
{
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'big' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => chat_body('gpt-4o-mini'));
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    my $f = LLOFixtures::expected_facts('big');
    if (defined $f->{completion_tokens}) {
        is($w->{token_source}, 'provider', 'big: provider counts');
    } else {
        is($w->{completion_tokens}, tiktoken_count('o200k_base', $f->{text}),
            'big: completion = tiktoken\'s count of a long text');
    }
}

# a provider fixed by configuration, another provider's model: estimate
{
    my $name = 'anthropic_messages_stream';
    my $r = http_req(port => $port, path => '/anthropic/v1/messages',
        headers => [ [ 'x-scenario', "file:$name:abort" ],
                     [ 'Content-Type', 'application/json' ] ],
        body => LLOFixtures::provider_file($name, 'request'));
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{provider}, 'anthropic', 'llm_observer_provider anthropic');
    is($w->{token_source}, 'estimate', 'claude, cut short: estimate');
    is($w->{tokenizer}, 'o200k_base', 'claude: estimated with o200k_base');
}

error_log_ok($ng, allow => [ 'upstream prematurely closed connection' ]);
nginx_stop($ng);
done_testing;
