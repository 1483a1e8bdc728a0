package LLOTok;

# Reference token counts for the integration tests: the npm tiktoken
# package (built by "make tok-data" into build/npm), through node.
#
#   use LLOTok;
#   my @n = tiktoken_counts([ 'o200k_base', $text ], ...);
#   my $n = tiktoken_count('o200k_base', $text);
#   my $n = chat_prompt_tokens('o200k_base', [ [role, content, name], ..]);
#   rank_file('o200k_base')   path of the rank file (dies if not built)
#
# Texts are UTF-8 byte strings.  Dies when node or the package is missing:
# a test must not pass without its reference.

use strict;
use warnings;

use Exporter 'import';
use IPC::Open2;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

use LLOTest qw(repo_root);

our @EXPORT = qw(tiktoken_counts tiktoken_count chat_prompt_tokens
    rank_file);

sub rank_file {
    my ($enc) = @_;
    my $f = repo_root() . "/build/tiktoken/$enc.tiktoken";
    die "LLOTok: $f is not built; run make tok-data\n" unless -s $f;
    return $f;
}

sub tiktoken_counts {
    my @pairs = @_;
    my $root = repo_root();
    die "LLOTok: build/npm/node_modules/tiktoken missing; run make tok-data\n"
        unless -d "$root/build/npm/node_modules/tiktoken";
    local $ENV{NODE_PATH} = "$root/build/npm/node_modules";
    my $in = JSON::PP->new->encode(
        [ map { [ $_->[0], encode_base64($_->[1], '') ] } @pairs ]);
    my $pid = open2(my $out, my $to, 'node', "$root/t/lib/tiktoken_count.js")
        or die "LLOTok: cannot run node: $!\n";
    print $to $in;
    close $to;
    local $/;
    my $res = <$out>;
    waitpid($pid, 0);
    die "LLOTok: node failed (exit " . ($? >> 8) . ")\n" if $?;
    return @{ JSON::PP->new->decode($res) };
}

sub tiktoken_count { return (tiktoken_counts([ @_ ]))[0] }

# OpenAI's cookbook count for chat messages: 3 per message, the tokens of
# each string value (role, content, name), 1 more for a name, 3 to prime
# the reply
sub chat_prompt_tokens {
    my ($enc, $msgs) = @_;
    my @pairs;
    for my $m (@$msgs) {
        push @pairs, map { [ $enc, $_ ] } grep { defined } @$m;
    }
    my $n = 0;
    $n += $_ for tiktoken_counts(@pairs);
    for my $m (@$msgs) {
        $n += 3 + (defined $m->[2] ? 1 : 0);
    }
    return $n + 3;
}

1;
