#!/usr/bin/perl

# make demo: the whole pipeline on this machine, then stop everything.
#
# A throwaway PostgreSQL, the demo upstream (t/lib/upstream.pl, which
# answers like OpenAI's chat completions API), nginx with the module, and
# the evaluator daemon; a handful of calls, stream and non-stream, in the
# OpenAI, Anthropic and Gemini formats, counted by the providers' usage or
# the tiktoken tokenizer; then the rows the evaluator wrote.  LLO_KEEP=1
# keeps the temp dir.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use LLOTest;
use LLOFixtures qw(provider_meta provider_file);
use JSON::PP ();

$| = 1;

my $root = repo_root();
my $evaluator = "$root/build/llm-evaluator";

die "demo: $evaluator is missing; run make first\n" unless -x $evaluator;

my %rank = map { $_ => "$root/build/tiktoken/$_.tiktoken" }
    qw(o200k_base cl100k_base);
-s $_ or die "demo: $_ is missing; run make tok-data first\n" for values %rank;

sub step { print "\n== $_[0]\n" }

step('starting PostgreSQL in a temp dir');
my $pg = pg_start();
print "   $pg->{conninfo}\n";

my $dir = tempdir_world();
# the ring lives on tmpfs, as in production (nginx warns otherwise)
my $ring = "/dev/shm/llo-demo-$$.ring";
END { unlink $ring if $ring }

my $mport = free_port();
my $conf = "$dir/llm-evaluator.conf";
open my $fh, '>', $conf or die "demo: $conf: $!\n";
print $fh <<"EOF";
ring_path = $ring
pg_conninfo = $pg->{conninfo}
batch_size = 1000
flush_interval = 100ms
log_level = info
sql_dir = $root/sql
rules_file = $root/conf.d/llm-rules.conf
http_listen = 127.0.0.1:$mport
EOF
close $fh;

step('applying migrations');
my ($rc, $out) = run_cmd($evaluator, '-c', $conf, 'migrate');
print $out;
die "demo: migrate failed\n" if $rc;

step('starting the demo upstream (OpenAI wire format)');
my $up = upstream_start();
print "   127.0.0.1:$up->{port}\n";

step('starting nginx with ngx_http_llm_observer_module');
my $port = free_port();
my $ng = nginx_start(workers => 2, http => <<"EOF");
    llm_observer_ring $ring size=8m;
    llm_observer_tokenizer o200k_base $rank{o200k_base};
    llm_observer_tokenizer cl100k_base $rank{cl100k_base};

    log_format llm '\$status \$llm_provider model=\$llm_model '
                   'stream=\$llm_stream prompt_estimate='
                   '\$llm_prompt_tokens_estimate tokens=\$llm_prompt_tokens/'
                   '\$llm_completion_tokens/\$llm_total_tokens '
                   '(\$llm_token_source) ttft_ms=\$llm_ttft_ms '
                   'finish=\$llm_finish_reason id=\$llm_request_id';

    server {
        listen 127.0.0.1:$port;

        location / {
            llm_observer on;
            llm_observer_stream_usage on;
            access_log $dir/llm.log llm;
            proxy_pass http://127.0.0.1:$up->{port};
            proxy_http_version 1.1;
            proxy_buffering off;
        }
    }
EOF
print "   127.0.0.1:$port, config $ng->{conf}\n";

step('starting the evaluator daemon');
my $epid = fork();
die "demo: fork: $!\n" unless defined $epid;

if ($epid == 0) {
    open STDOUT, '>', "$dir/evaluator.log";
    open STDERR, '>&', \*STDOUT;
    exec $evaluator, '-c', $conf;
    exit 127;
}

END { kill 'TERM', $epid if $epid; }

step('starting Prometheus and Alertmanager (the shipped rules and routing)');
my $pport = free_port();
my $aport = free_port();
my $am = "$dir/alertmanager.yml";
my $amtext = slurp("$root/conf.d/alertmanager/alertmanager.yml");
$amtext =~ s{http://127\.0\.0\.1:9188/alerts}{http://127.0.0.1:$mport/alerts};
$amtext =~ s/group_wait: 30s/group_wait: 1s/;
spew($am, $amtext);
spawn("$dir/alertmanager.log", 'prometheus-alertmanager', "--config.file=$am",
    "--storage.path=$dir/am-data", "--web.listen-address=127.0.0.1:$aport",
    '--cluster.listen-address=');
spew("$dir/prometheus.yml", <<"EOF");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $root/conf.d/prometheus/rules/llm-observer.rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$aport']
scrape_configs:
  - job_name: llm-evaluator
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOF
spawn("$dir/prometheus.log", 'prometheus', "--config.file=$dir/prometheus.yml",
    "--storage.tsdb.path=$dir/prom-data", "--web.listen-address=127.0.0.1:$pport");
print "   Prometheus   http://127.0.0.1:$pport  (a Grafana Prometheus data source)\n";
print "   Alertmanager http://127.0.0.1:$aport  (its webhook: the evaluator's /alerts)\n";

step('sending calls through nginx');

my @calls = (
    [ json      => 0, 'Say hello in three languages.' ],
    [ sse_usage => 1, 'Stream me a greeting.' ],
    [ sse_nousage => 1, 'Stream without usage.' ],
    [ gzip      => 0, 'A compressed answer, please.' ],
    [ error429  => 0, 'Too many of these.' ],
    [ slow      => 1, 'Take your time.' ],
);

for my $c (@calls) {
    my ($scenario, $stream, $prompt) = @$c;
    my $body = '{"model":"gpt-4o-mini","stream":'
        . ($stream ? 'true' : 'false')
        . ',"messages":[{"role":"user","content":"' . $prompt . '"}]}';

    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'Content-Type', 'application/json' ],
                     [ 'x-scenario', $scenario ] ],
        body => $body);

    printf "   %-26s -> HTTP %s, %d bytes\n", $scenario, $r->{status},
        length $r->{body};
}

# the other providers' wire formats (t/fixtures/providers)
for my $name (qw(anthropic_messages_stream anthropic_messages
    gemini_stream_sse gemini_generate openai_responses_stream
    openai_embeddings))
{
    my $m = provider_meta($name) or die "demo: no fixture $name\n";
    my $r = http_req(port => $port, path => $m->{uri},
        headers => [ [ 'Content-Type', 'application/json' ],
                     [ 'x-scenario', "file:$name" ] ],
        body => provider_file($name, 'request'));
    printf "   %-26s -> HTTP %s, %d bytes\n", $name, $r->{status},
        length $r->{body};
    push @calls, [ $name ];
}

# answers the shipped rules have something to say about
my $JH = JSON::PP->new->ascii->canonical;
for my $reply (
    { text => "I'm sorry, but I can't help with that." },
    { text => 'The capital of France is Paris, which', finish => 'length' },
    { text => 'Write to jane.doe@example.com or call +33 1 42 76 40 40.' },
    { text => 'The server is overloaded.', status => 503 })
{
    my $r = http_req(port => $port, path => '/v1/chat/completions',
        headers => [ [ 'Content-Type', 'application/json' ],
                     [ 'x-scenario', 'reply' ],
                     [ 'x-reply', $JH->encode($reply) ] ],
        body => '{"model":"gpt-4o-mini","messages":[{"role":"user",'
            . '"content":"Tell me about Paris."}]}');
    printf "   %-26s -> HTTP %s, %d bytes\n", 'reply', $r->{status},
        length $r->{body};
    push @calls, [ 'reply' ];
}

step('access log lines');
open my $log, '<', "$dir/llm.log" or die "demo: $dir/llm.log: $!\n";
print "   $_" while <$log>;
close $log;

step('waiting for the evaluator to write the rows');
my $n = wait_for(sub {
    my $c = psql($pg, 'select count(*) from llm_requests');
    return $c >= @calls ? $c : 0;
}, timeout => 15);

die "demo: rows did not arrive; see $dir/evaluator.log\n" unless $n;

step('rows in llm_requests');
($rc, $out) = run_cmd('psql', '-X', '-h', '127.0.0.1', '-p', $pg->{port},
    '-U', 'postgres', '-d', 'llo', '-c',
    'select to_char(ts, \'HH24:MI:SS.MS\') as ts, provider, api, '
    . 'request_model, stream, status, prompt_tokens_estimate as est, '
    . 'prompt_tokens as pt, completion_tokens as ct, '
    . 'total_tokens as tt, token_source as src, usage_added as added, '
    . 'round(ttft_ms) as ttft, finish_reason as fin, incomplete as inc, '
    . 'left(regexp_replace(coalesce(nullif(response_text, \'\'), '
    . 'error_message), \'\\s+\', \' \', \'g\'), 30) as text '
    . 'from llm_requests order by ts, id');
print $out;

step('verdicts in llm_evaluations (rules: conf.d/llm-rules.conf)');
($rc, $out) = run_cmd('psql', '-X', '-h', '127.0.0.1', '-p', $pg->{port},
    '-U', 'postgres', '-d', 'llo', '-c',
    'select to_char(r.ts, \'HH24:MI:SS.MS\') as ts, r.provider, r.status, '
    . 'e.score, e.label, e.flagged, '
    . '(select string_agg(f->>\'rule\', \' \') from '
    . 'jsonb_array_elements(e.details->\'fired\') f) as fired, '
    . 'left(regexp_replace(coalesce(nullif(r.response_text, \'\'), '
    . 'r.error_message), \'\\s+\', \' \', \'g\'), 30) as text '
    . 'from llm_requests r join llm_evaluations e using (id, ts) '
    . 'order by r.ts, r.id');
print $out;

step("the evaluator's /metrics (http://127.0.0.1:$mport/metrics), a few");
my $m = http_req(port => $mport, method => 'GET', path => '/metrics');
print "   $_\n" for grep { /^(llm_evaluator_(rows_written|verdicts|verdicts_flagged)_total|llm_observer_ring_(committed_records|dropped_records)_total|llm_evaluator_db_up) / } split /\n/, $m->{body};

step('Prometheus, having scraped the evaluator');
my $q = 'sum by (provider, status_class) (llm_gateway_requests_total)';
my $res;
wait_for(sub {
    my $esc = $q =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ger;
    my $r = eval { http_req(port => $pport, method => 'GET',
        path => "/api/v1/query?query=$esc") } // {};
    $res = eval { json_decode($r->{body} // '') } // {};
    return @{ $res->{data}{result} // [] } > 0;
}, timeout => 20);
print "   $q\n";
printf "     %-10s %-4s %s\n", $_->{metric}{provider}, $_->{metric}{status_class},
    $_->{value}[1] for @{ $res->{data}{result} // [] };

step('ring');
($rc, $out) = run_cmd($evaluator, '-c', $conf, 'ring-stat');
print $out;

step('stopping everything');
kill 'TERM', $epid;
waitpid $epid, 0;
$epid = 0;
nginx_stop($ng);
upstream_stop($up);
pg_stop($pg);

print "\ndemo: done\n";
