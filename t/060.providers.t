#!/usr/bin/perl

# Every provider fixture (t/fixtures/providers: OpenAI chat, completions,
# Responses, embeddings; Anthropic Messages; Gemini generateContent and
# streamGenerateContent, SSE and JSON array; errors; the OpenAI-compatible
# dialects of Mistral, Groq, DeepSeek, vLLM, Ollama and Azure OpenAI)
# served in its wire format, cut at awkward byte boundaries, through a
# real nginx with llm_observer and llm_observer_provider auto, or, for a
# dialect auto takes for OpenAI (its .meta has auto=), a server with
# llm_observer_provider set to the dialect: the client gets the exact
# bytes, and the PostgreSQL row holds the facts of the fixture's .meta:
# provider, api, ids, models, finish reason, every count, the text, the
# output the request asked for (JSON, a schema's required keys, tools),
# whether the answer called a tool.
# Streams cut short by the upstream are flagged incomplete and their
# completion is counted by the tokenizer from the text received (exact
# for OpenAI's and Azure's models, an estimate for the others).  Azure's
# deployment URI is Azure under auto as well as configured, the model
# its deployment.  An unknown endpoint is observed with bytes and timings
# only.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);

use LLOTest;
use LLOFixtures qw(provider_meta provider_file provider_names);
use LLOPipeline;
use LLOTok;

my $p    = pipeline_start();
my $up   = $p->{up};
my $dir  = $p->{dir};
my $ring = $p->{ring};
my $upp  = $up->{port};
my $port = free_port();

my $O200K = rank_file('o200k_base');
my $CL100K = rank_file('cl100k_base');

my @NAMES = provider_names();

# a server with the default (auto), and one for each configured
# provider: the dialects, and Azure

my %PORT;
my $servers = '';

for my $prov ('auto', sort(grep { defined }
                           map { provider_meta($_)->{auto}
                                 && provider_meta($_)->{provider} } @NAMES),
              'azure')
{
    next if $PORT{$prov};
    $PORT{$prov} = $prov eq 'auto' ? $port : free_port();
    my $set = $prov eq 'auto' ? '' : "llm_observer_provider $prov;";
    $servers .= <<"EOF";
    server {
        listen 127.0.0.1:$PORT{$prov};
        llm_observer on;
        $set
        llm_observer_max_text 1m;
        access_log $dir/llm.log llm;

        location / {
            add_header X-LLM-Id \$llm_request_id always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_pass http://127.0.0.1:$upp;
        }
    }
EOF
}

# tiktoken counts these providers' models exactly
my %EXACT = (openai => 1, azure => 1);

my $ng = nginx_start(dir => $dir, http => <<"EOF");
    llm_observer_ring $ring size=4m;
    llm_observer_tokenizer o200k_base $O200K;
    llm_observer_tokenizer cl100k_base $CL100K;
    llm_observer_tokenizer_model claude-* cl100k_base;

    log_format llm '\$llm_request_id|\$llm_provider|\$llm_prompt_tokens_estimate|\$llm_prompt_tokens|\$llm_completion_tokens|\$llm_total_tokens|\$llm_token_source';

$servers
EOF

ok(@NAMES >= 15, 'there are provider fixtures (' . scalar(@NAMES) . ')');

my %API = map { $_ => 1 } qw(chat completions responses embeddings messages
    generate);

sub call {
    my ($name, $scenario, $m, %o) = @_;
    my $p = $PORT{delete $o{provider}
                  // ($m->{auto} ? $m->{provider} : 'auto')};
    return http_req(port => $p, path => $m->{uri},
        headers => [ [ 'x-scenario', $scenario ],
                     [ 'Content-Type', 'application/json' ] ],
        body => provider_file($name, 'request'), %o);
}

sub access_line {
    my ($id) = @_;
    my $l;
    wait_for(sub {
        open my $fh, '<', "$dir/llm.log" or return 0;
        ($l) = grep { index($_, "$id|") == 0 } <$fh>;
        return defined $l;
    }, timeout => 5);
    chomp $l if defined $l;
    return [ split /\|/, $l // '' ];
}

my %seen_api;

for my $name (@NAMES) {
    my $m = provider_meta($name);
    $seen_api{"$m->{provider}/$m->{api}"}++;
    my $r = call($name, "file:$name", $m);

    is($r->{status}, $m->{status}, "$name: status");
    ok($r->{body} eq provider_file($name, 'body'),
        "$name: the client gets the exact bytes");

    my $id = $r->{headers}{'x-llm-id'} // '';
    my $w = drained_row($p, $id);
    (my $path = $m->{uri}) =~ s/\?.*//;

    is($w->{provider}, $m->{provider}, "$name: provider");
    is($w->{api}, $m->{api}, "$name: api");
    is($w->{endpoint}, $path, "$name: endpoint");
    my $rmodel = $m->{request_model};
    ($rmodel) = $path =~ m{models/([^/:]+):} if $m->{provider} eq 'gemini';
    ($rmodel) = $path =~ m{/deployments/([^/]+)/}
        if $m->{provider} eq 'azure' && !defined $rmodel;
    is($w->{request_model}, $rmodel, "$name: request_model");
    is($w->{response_format}, $m->{request_response_format},
        "$name: response_format");
    is($w->{tool_calls}, $m->{tool_calls} // 0, "$name: tool_calls");

    for my $k (qw(response_id finish_reason error_type cached_tokens
        cache_creation_tokens reasoning_tokens))
    {
        is($w->{$k}, $m->{$k}, "$name: $k");
    }
    is($w->{response_model}, $m->{model}, "$name: response_model");
    is($w->{incomplete}, ($m->{done} // 0) ? 0 : 1, "$name: incomplete");
    is($w->{parse_error}, undef, "$name: no parse_error");

    my $text = $w->{response_text} // '';
    is(length $text, $m->{text_len} // 0, "$name: text length");
    is(sha256_hex($text), $m->{text_sha256} // sha256_hex(''),
        "$name: text");

    my $stream = $m->{content_type} =~ /event-stream/
        || $m->{uri} =~ /stream/i;
    if ($stream && $m->{status} == 200 && !$m->{done}) {
        # a stream the provider ended early (an error event): the
        # provider's prompt count, the text received counted
        is($w->{token_source},
            $EXACT{$m->{provider}} ? 'tokenizer' : 'estimate',
            "$name: ended early: token_source");
        is($w->{prompt_tokens}, $m->{prompt_tokens} // $w->{prompt_tokens_estimate},
            "$name: ended early: prompt_tokens");
        is($w->{completion_tokens}, tiktoken_count($w->{tokenizer}, $text),
            "$name: ended early: completion_tokens = count of the text");
    } elsif (defined $m->{prompt_tokens}) {
        is($w->{token_source}, 'provider', "$name: token_source provider");
        is($w->{prompt_tokens}, $m->{prompt_tokens}, "$name: prompt_tokens");
        is($w->{completion_tokens}, $m->{completion_tokens},
            "$name: completion_tokens");
        is($w->{total_tokens}, $m->{total_tokens}, "$name: total_tokens");
    } elsif ($m->{status} == 200) {
        # no usage: the tokenizer counted, exactly for OpenAI's models
        my $enc = $w->{tokenizer} // '';
        my $src = $EXACT{$m->{provider}} ? 'tokenizer' : 'estimate';
        is($w->{token_source}, $src, "$name: token_source $src");
        is($w->{completion_tokens}, tiktoken_count($enc, $text),
            "$name: completion_tokens = tiktoken's count of the text");
        is($w->{prompt_tokens}, $w->{prompt_tokens_estimate},
            "$name: prompt_tokens = the count made before forwarding");
        is($w->{total_tokens},
            ($w->{prompt_tokens} // 0) + ($w->{completion_tokens} // 0),
            "$name: total_tokens");
    } else {
        is($w->{token_source}, 'none', "$name: error: token_source none");
        is($w->{prompt_tokens}, undef, "$name: error: no prompt_tokens");
    }

    ok(defined $w->{prompt_tokens_estimate}
        && $w->{prompt_tokens_estimate} > 0,
        "$name: prompt counted before forwarding");

    my $l = access_line($id);
    is($l->[1], $m->{provider}, "$name: \$llm_provider");
    is($l->[2], $w->{prompt_tokens_estimate} // '-',
        "$name: \$llm_prompt_tokens_estimate");
    is($l->[3], $w->{prompt_tokens} // '-', "$name: \$llm_prompt_tokens");
    is($l->[4], $w->{completion_tokens} // '-',
        "$name: \$llm_completion_tokens");
    is($l->[6], $w->{token_source}, "$name: \$llm_token_source");
}

ok($seen_api{$_}, "a fixture for $_")
    for qw(openai/chat openai/completions openai/responses openai/embeddings
        anthropic/messages gemini/generate mistral/chat groq/chat
        deepseek/chat vllm/chat ollama/chat azure/chat);

# a dialect under auto is OpenAI: only the provider recorded differs
for my $name (grep { provider_meta($_)->{auto} } @NAMES) {
    my $m = provider_meta($name);
    my $r = call($name, "file:$name", $m, provider => 'auto');
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{provider}, $m->{auto}, "$name under auto: provider $m->{auto}");
    is($w->{api}, $m->{api}, "$name under auto: api");
    is($w->{prompt_tokens}, $m->{prompt_tokens}
                             // $w->{prompt_tokens_estimate},
        "$name under auto: the same prompt_tokens");
    is($w->{token_source}, defined $m->{prompt_tokens} ? 'provider'
                                                       : 'estimate',
        "$name under auto: token_source (not OpenAI's model)");
    is($w->{cached_tokens}, $m->{cached_tokens},
        "$name under auto: the same cached_tokens");
}

# Azure's deployment URI as configured, not only as auto finds it
{
    my $name = 'azure_chat_stream';
    my $m = provider_meta($name);
    my $r = call($name, "file:$name", $m, provider => 'azure');
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{provider}, 'azure', 'llm_observer_provider azure: provider');
    is($w->{request_model}, 'gpt-4o-mini',
        'llm_observer_provider azure: the model is the deployment');
    is($w->{response_model}, $m->{model},
        'llm_observer_provider azure: the response names its model');
    is($w->{completion_tokens}, $m->{completion_tokens},
        'llm_observer_provider azure: completion_tokens');
}

# the OpenAI chat prompt count is tiktoken's, with its chat framing
{
    my $name = 'openai_chat_stream_nousage';
    my $m = provider_meta($name);
    my $req = json_decode(provider_file($name, 'request'));
    my $r = call($name, "file:$name", $m);
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    my $enc = $w->{tokenizer};
    is($enc, 'o200k_base', "$name: $req->{model} counts with o200k_base");
    my @msgs = map { [ $_->{role}, $_->{content}, $_->{name} ] }
        @{ $req->{messages} };
    utf8::encode($_) for grep { defined } map { @$_ } @msgs;
    is($w->{prompt_tokens_estimate}, chat_prompt_tokens($enc, \@msgs),
        "$name: prompt_tokens_estimate = tiktoken's chat count");
}

# streams the upstream cuts short: the text received is counted
for my $name (grep { provider_meta($_)->{content_type} =~ /event-stream/
                     && provider_meta($_)->{status} == 200 } @NAMES)
{
    my $m = provider_meta($name);
    my $r = call($name, "file:$name:abort", $m);
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    my $text = $w->{response_text} // '';
    is($w->{incomplete}, 1, "$name, cut short: incomplete");
    is($w->{completion_tokens}, tiktoken_count($w->{tokenizer} // '', $text),
        "$name, cut short: completion_tokens = count of the text received");
    is($w->{token_source},
        $EXACT{$m->{provider}} ? 'tokenizer' : 'estimate',
        "$name, cut short: token_source");
}

# a client that goes away mid-stream: the text it was sent is counted
{
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'x-scenario', 'slow' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => '{"model":"gpt-4o-mini","stream":true,'
            . '"messages":[{"role":"user","content":"Hi"}]}',
        abort_after_bytes => 900);
    ok($r->{aborted}, 'client abort: the client went away');
    my $w = drained_row($p, $r->{headers}{'x-llm-id'} // '');
    is($w->{client_aborted}, 1, 'client abort: row says client_aborted');
    is($w->{incomplete}, 1, 'client abort: incomplete');
    ok(length($w->{response_text} // '') > 0,
        'client abort: some text was received');
    is($w->{completion_tokens},
        tiktoken_count('o200k_base', $w->{response_text} // ''),
        'client abort: completion_tokens = count of the text received');
    is($w->{token_source}, 'tokenizer', 'client abort: token_source');
}

# an endpoint nobody knows: bytes and timings only
{
    my $r = http_req(port => $port, path => '/v1/something/else',
        headers => [ [ 'x-scenario', 'json' ],
                     [ 'Content-Type', 'application/json' ] ],
        body => '{"model":"gpt-4o","messages":[]}');
    is($r->{status}, 200, 'unknown endpoint: proxied');
    my $w = drained_row($p, $r->{headers}{'x-llm-id'});
    is($w->{provider}, 'unknown', 'unknown endpoint: provider unknown');
    is($w->{api}, 'unknown', 'unknown endpoint: api unknown');
    is($w->{request_model}, undef, 'unknown endpoint: body not read');
    is($w->{prompt_tokens}, undef, 'unknown endpoint: no counts');
    is($w->{token_source}, 'none', 'unknown endpoint: token_source none');
    is($w->{parse_error}, undef, 'unknown endpoint: no parse error');
    ok($w->{bytes_out} > 0 && defined $w->{latency_ms},
        'unknown endpoint: bytes and timings');
}

error_log_ok($ng, allow => [ 'upstream prematurely closed connection' ]);
nginx_stop($ng);
done_testing;
