#!/usr/bin/perl

# The key audit: the key set nginx records on every start and reload
# (LLO_KIND_KEYS) becomes llm_key_sets, llm_keys and llm_key_events.  The
# records are written into the ring by a small C program built here from
# the module's own ring and record code, as nginx writes them; the last
# part does it with real nginx and llm_observer_key lines.
#
# Covered: the first set of a host is all 'added'; a reload that adds,
# removes, changes and renames keys gives exactly those events; the same
# set gives none; a batch delivered again after its COMMIT is applied
# once; a batch whose COMMIT failed is applied in full the next time, with
# its calls; calls and key sets in one batch; hosts apart; empty sets;
# malformed records are counted bad and change nothing; a set PostgreSQL
# refuses takes neither the calls nor the other sets with it; a call row
# PostgreSQL refuses does not hold the key sets back.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Sys::Hostname qw(hostname);
use Test::More;
use Time::HiRes qw(time);

use LLOTest;
use LLOPipeline;

my $T0 = time;

my $p    = pipeline_start(upstream => 0);
my $pg   = $p->{pg};
my $dir  = $p->{dir};
my $ring = $p->{ring};

# ------------------------------------------------------ the record writer

# appends records to a ring as nginx does (llo_ring_append of an
# llo_rec_encode()d record) and prints the id of each, one a line:
#   llo_put RING SIZE RECORD...
#   RECORD: keys HOST TS_US SET | keys-nohost TS_US SET | keys-noset HOST
#           TS_US | call TS_US PROMPT
my $PUT_C = <<'EOF';
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llo_ring.h"
#include "llo_record.h"


int
main(int argc, char **argv)
{
    int         i;
    char        err[256], id[LLO_ID_LEN + 1];
    size_t      n;
    uint8_t    *buf;
    uint64_t    size, seq;
    llo_rec_t   rec;
    llo_ring_t  ring;

    if (argc < 3 || llo_parse_size(argv[2], strlen(argv[2]), &size) != 0) {
        fprintf(stderr, "usage: llo_put <ring> <size> <record>...\n");
        return 2;
    }

    if (llo_ring_open(&ring, argv[1], size, 1, 0666, (uid_t) -1,
                      (gid_t) -1, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "llo_put: %s\n", err);
        return 1;
    }

    for (i = 3; i < argc; /* void */ ) {
        memset(&rec, 0, sizeof(llo_rec_t));

        if (strcmp(argv[i], "call") == 0 && i + 2 < argc) {
            llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_CALL);
            llo_rec_num(&rec, LLO_N_TS_US, strtoll(argv[i + 1], NULL, 10));
            llo_rec_num(&rec, LLO_N_STATUS, 200);
            llo_rec_str(&rec, LLO_S_PROVIDER, "openai", 6);
            llo_rec_str(&rec, LLO_S_REQUEST_MODEL, "gpt-4o-mini", 11);
            llo_rec_str(&rec, LLO_S_PROMPT_TEXT, argv[i + 2],
                        strlen(argv[i + 2]));
            i += 3;

        } else if (strcmp(argv[i], "keys") == 0 && i + 3 < argc) {
            llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_KEYS);
            llo_rec_str(&rec, LLO_S_HOST, argv[i + 1], strlen(argv[i + 1]));
            llo_rec_num(&rec, LLO_N_TS_US, strtoll(argv[i + 2], NULL, 10));
            llo_rec_str(&rec, LLO_S_KEY_SET, argv[i + 3],
                        strlen(argv[i + 3]));
            i += 4;

        } else if (strcmp(argv[i], "keys-nohost") == 0 && i + 2 < argc) {
            llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_KEYS);
            llo_rec_num(&rec, LLO_N_TS_US, strtoll(argv[i + 1], NULL, 10));
            llo_rec_str(&rec, LLO_S_KEY_SET, argv[i + 2],
                        strlen(argv[i + 2]));
            i += 3;

        } else if (strcmp(argv[i], "keys-noset") == 0 && i + 2 < argc) {
            llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_KEYS);
            llo_rec_str(&rec, LLO_S_HOST, argv[i + 1], strlen(argv[i + 1]));
            llo_rec_num(&rec, LLO_N_TS_US, strtoll(argv[i + 2], NULL, 10));
            i += 3;

        } else {
            fprintf(stderr, "llo_put: bad record at argument %d \"%s\"\n",
                    i, argv[i]);
            return 2;
        }

        n = llo_rec_size(&rec);

        buf = malloc(n ? n : 1);
        if (buf == NULL) {
            fprintf(stderr, "llo_put: out of memory\n");
            return 1;
        }

        llo_rec_encode(&rec, buf);
        seq = llo_ring_append(&ring, buf, n);
        free(buf);

        if (seq == 0) {
            fprintf(stderr, "llo_put: ring full\n");
            return 1;
        }

        llo_format_id(ring.hdr->instance, seq, id);
        printf("%s\n", id);
    }

    llo_ring_close(&ring);

    return 0;
}
EOF

my $PUT = "$dir/llo_put";
{
    my $src = spew("$dir/llo_put.c", $PUT_C);
    my $shared = repo_root() . '/ngx_llm_observer_module';
    my ($rc, $out) = run_cmd('cc', '-O2', '-Wall', '-Wextra', '-Werror',
        "-I$shared", '-o', $PUT, $src, "$shared/llo_ring.c",
        "$shared/llo_record.c");
    is($rc, 0, 'the record writer builds against llo_ring.c and llo_record.c')
        or diag($out);
}

# the ring is the evaluator's: made by the first put, 1 MB
sub put {
    my (@args) = @_;
    my ($rc, $out, $err) = run_cmd_split($PUT, $ring, '1m', @args);
    die "llo_put failed (exit $rc): $err\n" if $rc;
    my @ids = split /\n/, $out;
    return wantarray ? @ids : $ids[0];
}

# ------------------------------------------------------------ key sets

my @FIELDS = qw(name prefix team models rpm tpm tpd budget expires);

# a key as llo_key_describe() writes it, without the newline
sub line {
    my ($k) = @_;
    return join "\t", map { $k->{$_} // '' } @FIELDS;
}

sub set_of { join '', map { line($_) . "\n" } @_ }

# with some fields changed
sub but {
    my ($k, %c) = @_;
    return { %$k, %c };
}

my %K = (
    alice => { name => 'alice', prefix => '6ab9f1eb', team => 'ml',
        models => 'gpt-4o*', rpm => 60, tpm => 100000, tpd => 1000000,
        budget => '5.00/day', expires => '2026-12-31' },
    bob   => { name => 'bob', prefix => '0123abcd', team => 'web',
        models => 'gpt-4o-mini,o3-mini', rpm => 600 },
    carol => { name => 'carol', prefix => 'c0ffee00', budget => '120.50/month' },
    dave  => { name => 'dave', prefix => 'deadbeef', team => 'ml', tpd => 5000 },
    erin  => { name => 'erin', prefix => 'e1e1e1e1' },
    frank => { name => 'frank', prefix => 'f00df00d', rpm => 10 },
    gina  => { name => 'gina', prefix => '99990000', team => 'ops' },
    oscar => { name => 'oscar', prefix => '05ca0000' },
    nina  => { name => 'nina', prefix => '41414141' },
);

# a ts per record, increasing, in this month (the calls' partitions)
my $TS = int(time) * 1000000;
sub ts { return $TS += 1000 }

# ------------------------------------------------------------- reading

sub drain {
    my ($name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = ev($o{p} // $p, 'drain');
    is($rc, $o{rc} // 0, "$name: drain exits " . ($o{rc} // 0)) or diag($out);
    return map { /^(\w+) (\d+)$/ ? ($1 => $2) : () } split /\n/, $out;
}

sub json_rows {
    my ($sql) = @_;
    return map { json_decode($_) } split /\n/, psql($pg, $sql);
}

# the events of a record, as "event key_name key_prefix" => [before, after]
sub events {
    my ($id) = @_;
    my %e;
    for my $r (json_rows("SELECT row_to_json(e) FROM llm_key_events e"
        . " WHERE record_id = '$id'"))
    {
        $e{"$r->{event} $r->{key_name} $r->{key_prefix}"}
            = [ $r->{before}, $r->{after} ];
    }
    return \%e;
}

# a host's llm_keys: key_prefix => line
sub keys_of {
    my ($host) = @_;
    return { map { split /\|/, $_, 2 } grep { $_ ne '' } split /\n/,
        psql($pg, "SELECT key_prefix, line FROM llm_keys WHERE host = '$host'") };
}

# what keys_of() should give for these keys
sub expect_keys {
    my (@keys) = @_;
    return { map { $_->{prefix} => line($_) } @keys };
}

sub count {
    my ($table, $where) = @_;
    return psql($pg, "SELECT count(*) FROM $table"
        . (defined $where ? " WHERE $where" : ''));
}

sub us { psql($pg, "SELECT (extract(epoch FROM $_[0]) * 1000000)::bigint $_[1]") }

my $evlog_off = 0;
sub log_since {
    my $l = slurp($p->{evlog});
    my $s = substr($l, $evlog_off);
    $evlog_off = length $l;
    return $s;
}

# ------------------------------------------------------------ the schema

{
    my ($rc, $out) = ev($p, 'migrate');
    is($rc, 0, 'migrate again: exits 0');
    is($out, "no pending migrations\n", 'migrate: 004_key_events was applied with the rest');
    is(psql($pg, "SELECT count(*) FROM llm_schema_migrations WHERE version = '004_key_events'"),
        1, 'llm_schema_migrations has 004_key_events');

    for my $t (qw(llm_key_sets llm_keys llm_key_events)) {
        ok(psql($pg, "SELECT obj_description('$t'::regclass, 'pg_class') IS NOT NULL"),
            "$t has a COMMENT");
        is(psql($pg, "SELECT count(*) FROM pg_attribute WHERE attrelid = '$t'::regclass"
            . " AND attnum > 0 AND NOT attisdropped"
            . " AND col_description(attrelid, attnum) IS NULL"), 0,
            "$t: every column has a COMMENT");
    }
}

# ---------------------------------------------- the first set of a host

my $id1 = put('keys', 'web-1', ts(), set_of(@K{qw(alice bob carol)}));
like($id1, $UUID, 'first set: the writer gives a record id');
my $ts1 = $TS;
my %d = drain('first set');
is("$d{records} $d{inserted} $d{bad} $d{skipped}", '1 0 0 0',
    'first set: 1 record, no call, nothing bad or skipped');

is_deeply(events($id1), {
    "added alice 6ab9f1eb" => [ undef, line($K{alice}) ],
    "added bob 0123abcd"   => [ undef, line($K{bob}) ],
    "added carol c0ffee00" => [ undef, line($K{carol}) ],
}, 'first set: every key added, before NULL, after its line');
is(psql($pg, "SELECT count(DISTINCT ts) || ' ' || min(host) FROM llm_key_events"
    . " WHERE record_id = '$id1'"), '1 web-1', 'first set: one ts, the host');
is(us('ts', "FROM llm_key_events WHERE record_id = '$id1' LIMIT 1"), $ts1,
    'first set: ts is the record\'s, to the microsecond');
is_deeply(keys_of('web-1'), expect_keys(@K{qw(alice bob carol)}),
    'first set: llm_keys holds the 3 lines');
is(psql($pg, "SELECT host || ' ' || keys FROM llm_key_sets WHERE id = '$id1'"),
    'web-1 3', 'first set: llm_key_sets has the record, 3 keys');
like(log_since(), qr/key set of host "web-1" loaded at .* \(record seq \d+\): 3 keys, 3 added, 0 removed, 0 changed/,
    'first set: the log says what it changed');

# ------------------------------------------ a reload that changes things

my $alice2 = but($K{alice}, rpm => 120);
my $bobby = but($K{bob}, name => 'bobby');
my $id2 = put('keys', 'web-1', ts(), set_of($alice2, $bobby, $K{dave}));
my $ts2 = $TS;
%d = drain('reload');
is("$d{records} $d{bad}", '1 0', 'reload: 1 record, nothing bad');
is_deeply(events($id2), {
    "added dave deadbeef"    => [ undef, line($K{dave}) ],
    "removed carol c0ffee00" => [ line($K{carol}), undef ],
    "changed alice 6ab9f1eb" => [ line($K{alice}), line($alice2) ],
    "changed bobby 0123abcd" => [ line($K{bob}), line($bobby) ],
}, 'reload: dave added, carol removed, alice (rpm) and bob -> bobby changed, nothing else');
is_deeply(keys_of('web-1'), expect_keys($alice2, $bobby, $K{dave}),
    'reload: llm_keys holds the new set');
is(us('updated_at', "FROM llm_keys WHERE host = 'web-1' AND key_prefix = 'deadbeef'"),
    $ts2, 'reload: updated_at of a new key is the reload\'s ts');

# ---------------------------------------------------- the same set again

my $id3 = put('keys', 'web-1', ts(), set_of($K{dave}, $bobby, $alice2));
%d = drain('same set');
is("$d{records} $d{bad}", '1 0', 'same set: 1 record, nothing bad');
is(count('llm_key_events', "record_id = '$id3'"), 0,
    'same set (another order): no event');
is(psql($pg, "SELECT keys FROM llm_key_sets WHERE id = '$id3'"), 3,
    'same set: the load is in llm_key_sets all the same');
is(us('max(updated_at)', "FROM llm_keys WHERE host = 'web-1'"), $ts2,
    'same set: llm_keys not rewritten (updated_at of the last change)');

# ------------------------- a batch delivered again after its COMMIT

# erin comes and goes in one batch: applied again, the first of the two
# would see the state after the second and invent events
my $id4 = put('keys', 'web-1', ts(), set_of($alice2, $bobby, $K{dave}, $K{erin}));
my $id5 = put('keys', 'web-1', ts(), set_of($alice2, $bobby, $K{dave}));
my $copy = slurp($ring);
%d = drain('erin comes and goes');
is("$d{records} $d{bad}", '2 0', 'erin: 2 records');
is_deeply(events($id4), { "added erin e1e1e1e1" => [ undef, line($K{erin}) ] },
    'erin: added by the first');
is_deeply(events($id5), { "removed erin e1e1e1e1" => [ line($K{erin}), undef ] },
    'erin: removed by the second');
my $n_events = count('llm_key_events');
my $n_sets = count('llm_key_sets');

# a consumer that died after COMMIT, before it moved rpos
spew($ring, $copy);
my %st = ring_stat($p);
is($st{records_waiting}, 2, 're-delivery: the 2 records wait again');
log_since();
%d = drain('re-delivery');
is("$d{records} $d{bad}", '2 0', 're-delivery: 2 records, nothing bad');
is(count('llm_key_events'), $n_events, 're-delivery: no new event');
is(count('llm_key_sets'), $n_sets, 're-delivery: no new llm_key_sets row');
is_deeply(keys_of('web-1'), expect_keys($alice2, $bobby, $K{dave}),
    're-delivery: llm_keys as it was');
unlike(log_since(), qr/\[error\]/, 're-delivery: no error logged');

# ------------------------------- a failed COMMIT, then the same batch

# refused at COMMIT, not before: the calls and key sets of the batch went
# through their statements and must all be rolled back
psql($pg, <<'EOF');
CREATE FUNCTION t085_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 't085: COMMIT refused';
END $$;
CREATE CONSTRAINT TRIGGER t085_refuse AFTER INSERT ON llm_key_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION t085_refuse();
EOF
my $alice3 = but($alice2, team => 'research');
my ($c1, $id6, $c2) = put('call', ts(), 'before the reload',
    'keys', 'web-1', ts(), set_of($alice3, $bobby, $K{dave}),
    'call', ts(), 'after the reload');
%d = drain('failed COMMIT', rc => 1);
like(log_since(), qr/COMMIT failed: .*t085: COMMIT refused/,
    'failed COMMIT: the log says why');
is(count('llm_requests', "id IN ('$c1', '$c2')"), 0, 'failed COMMIT: no call row');
is(count('llm_key_sets', "id = '$id6'"), 0, 'failed COMMIT: no llm_key_sets row');
is(count('llm_key_events', "record_id = '$id6'"), 0, 'failed COMMIT: no event');
is_deeply(keys_of('web-1'), expect_keys($alice2, $bobby, $K{dave}),
    'failed COMMIT: llm_keys as it was');
%st = ring_stat($p);
is($st{records_waiting}, 3, 'failed COMMIT: the 3 records wait in the ring');

psql($pg, 'DROP TRIGGER t085_refuse ON llm_key_events; DROP FUNCTION t085_refuse()');
%d = drain('after the failed COMMIT');
is("$d{records} $d{inserted} $d{bad}", '3 2 0',
    'after the failed COMMIT: 3 records, the 2 calls inserted');
is(count('llm_requests', "id IN ('$c1', '$c2')"), 2, 'after the failed COMMIT: both call rows');
is_deeply(events($id6), { "changed alice 6ab9f1eb" => [ line($alice2), line($alice3) ] },
    'after the failed COMMIT: the change, once');

# ----------------------------------- calls and key sets in one batch

my $frank2 = but($K{frank}, rpm => 20);
my @web1 = ($alice3, $bobby, $K{dave});
my ($c3, $id7, $c4, $id8, $c5) = put('call', ts(), 'one',
    'keys', 'web-1', ts(), set_of(@web1, $K{frank}),
    'call', ts(), 'two',
    'keys', 'web-1', ts(), set_of(@web1, $frank2),
    'call', ts(), 'three');
%d = drain('interleaved');
is("$d{records} $d{inserted} $d{duplicates} $d{bad} $d{skipped} $d{batches}",
    '5 3 0 0 0 1', 'interleaved: 5 records in 1 batch, 3 calls inserted');
is(count('llm_requests', "id IN ('$c3', '$c4', '$c5')"), 3, 'interleaved: the 3 call rows');
is_deeply(events($id7), { "added frank f00df00d" => [ undef, line($K{frank}) ] },
    'interleaved: the first set adds frank');
is_deeply(events($id8), { "changed frank f00df00d" => [ line($K{frank}), line($frank2) ] },
    'interleaved: the second is diffed against the first');
@web1 = ($alice3, $bobby, $K{dave}, $frank2);

# ------------------------------------------------------------ two hosts

my $id9 = put('keys', 'web-2', ts(), set_of($K{alice}, $K{gina}));
%d = drain('second host');
is_deeply(events($id9), {
    "added alice 6ab9f1eb" => [ undef, line($K{alice}) ],
    "added gina 99990000"  => [ undef, line($K{gina}) ],
}, 'second host: its first set is all added, whatever web-1 has');
is_deeply(keys_of('web-1'), expect_keys(@web1), 'second host: web-1 untouched');

# one batch, both hosts, the same key
my $alice_w2 = but($K{alice}, rpm => 1);
my ($id10, $id11) = put('keys', 'web-2', ts(), set_of($alice_w2, $K{gina}),
    'keys', 'web-1', ts(), set_of(grep { $_->{name} ne 'alice' } @web1));
%d = drain('two hosts');
is_deeply(events($id10), { "changed alice 6ab9f1eb" => [ line($K{alice}), line($alice_w2) ] },
    'two hosts: web-2 diffed against web-2');
is_deeply(events($id11), { "removed alice 6ab9f1eb" => [ line($alice3), undef ] },
    'two hosts: web-1 diffed against web-1');
is_deeply(keys_of('web-2'), expect_keys($alice_w2, $K{gina}), 'two hosts: web-2\'s keys');
@web1 = grep { $_->{name} ne 'alice' } @web1;
is_deeply(keys_of('web-1'), expect_keys(@web1), 'two hosts: web-1\'s keys');

# ------------------------------------------------------------ empty sets

my $id12 = put('keys', 'web-3', ts(), '');
%d = drain('empty first set');
is("$d{records} $d{bad}", '1 0', 'empty first set: not bad');
is(count('llm_key_events', "host = 'web-3'"), 0, 'empty first set: no event');
is(psql($pg, "SELECT keys FROM llm_key_sets WHERE id = '$id12'"), 0,
    'empty first set: llm_key_sets, 0 keys');
my ($id13, $id14) = put('keys', 'web-3', ts(), set_of($K{oscar}), 'keys', 'web-3', ts(), '');
drain('to one key and back');
is_deeply(events($id13), { "added oscar 05ca0000" => [ undef, line($K{oscar}) ] },
    'empty set: a key added to it');
is_deeply(events($id14), { "removed oscar 05ca0000" => [ line($K{oscar}), undef ] },
    'empty set: the key removed by the next empty set');
is(count('llm_keys', "host = 'web-3'"), 0, 'empty set: web-3 has no key left');

# ------------------------------------------------------- malformed records

# each would make a wrong diff: not applied, counted bad, logged (one
# drain each: the message is logged once a minute per process)
my @web1b = (@web1, $K{nina});
my @bad;
log_since();
for my $c (
    [ 'key set without a host', 'keys-nohost', ts(), set_of(@web1b) ],
    [ 'without its key_set field', 'keys-noset', 'web-1', ts() ],
    [ 'does not end in a newline', 'keys', 'web-1', ts(), set_of(@web1b) . "cut\tshort" ],
    [ 'line 5: key prefix "E1E1E1E1" is not 8 lowercase hex digits', 'keys', 'web-1',
        ts(), set_of(@web1b, but($K{erin}, prefix => 'E1E1E1E1')) ],
    [ 'line 5: key prefix "e1e1e1" is not 8 lowercase hex digits', 'keys', 'web-1',
        ts(), set_of(@web1b, but($K{erin}, prefix => 'e1e1e1')) ],
    [ 'lines 2 and 5 have the same key prefix deadbeef: the audit cannot tell the two keys apart',
        'keys', 'web-1', ts(), set_of(@web1b, but($K{erin}, prefix => $K{dave}{prefix})) ],
    [ 'line 5 has 4 fields (expected 9)', 'keys', 'web-1', ts(),
        set_of(@web1b) . "erin\te1e1e1e1\t\t\n" ],
    [ 'line 5 is empty', 'keys', 'web-1', ts(), set_of(@web1b) . "\n" ],
    [ 'line 5 has no name', 'keys', 'web-1', ts(), set_of(@web1b, but($K{erin}, name => '')) ],
    [ 'key set host of 0 bytes', 'keys', '', ts(), set_of(@web1b) ],
    [ 'key set host of 303 bytes', 'keys', 'web' . ('x' x 300), ts(), set_of(@web1b) ],
) {
    my ($why, @rec) = @$c;
    push @bad, put(@rec);
    %d = drain("malformed ($why)");
    is("$d{records} $d{bad}", '1 1', "malformed ($why): counted bad");
    like(log_since(), qr/\[error\] .*record seq \d+: .*\Q$why\E.*; skipped/,
        "malformed ($why): the log says why");
}
is(count('llm_key_sets', 'id IN (' . join(',', map { "'$_'" } @bad) . ')'), 0,
    'malformed: none in llm_key_sets');
is_deeply(keys_of('web-1'), expect_keys(@web1), 'malformed: llm_keys untouched');
my $id15 = put('keys', 'web-1', ts(), set_of(@web1b));
drain('after the malformed');
is_deeply(events($id15), { "added nina 41414141" => [ undef, line($K{nina}) ] },
    'malformed: the good record after them is diffed against the last good set');
@web1 = @web1b;

# -------------------------- a set PostgreSQL refuses, calls around it

psql($pg, "ALTER TABLE llm_key_events ADD CONSTRAINT t085_no_mallory"
    . " CHECK (key_name <> 'mallory')");
my $mallory = { name => 'mallory', prefix => 'ba0ba0ba' };
my $dave2 = but($K{dave}, tpd => 6000);
my ($c6, $id16, $id17, $c7) = put('call', ts(), 'around mallory',
    'keys', 'web-1', ts(), set_of(@web1, $mallory),
    'keys', 'web-1', ts(), set_of(grep({ $_ != $K{dave} } @web1), $dave2),
    'call', ts(), 'after mallory');
%d = drain('refused set');
is("$d{records} $d{inserted} $d{bad}", '4 2 1', 'refused set: 2 calls inserted, 1 bad');
is(count('llm_requests', "id IN ('$c6', '$c7')"), 2, 'refused set: the calls of its batch are there');
is(count('llm_key_sets', "id = '$id16'"), 0, 'refused set: not in llm_key_sets');
is(count('llm_key_events', "key_name = 'mallory'"), 0, 'refused set: no event');
is_deeply(events($id17), { "changed dave deadbeef" => [ line($K{dave}), line($dave2) ] },
    'refused set: the next set of the batch is applied, against the state before it');
like(log_since(), qr/record seq \d+ \(key set of host "web-1"\) rejected by PostgreSQL: .*t085_no_mallory.*; skipped/,
    'refused set: the log names it and the constraint');
psql($pg, 'ALTER TABLE llm_key_events DROP CONSTRAINT t085_no_mallory');
@web1 = (grep({ $_ != $K{dave} } @web1), $dave2);

# -------------------------- a call row PostgreSQL refuses, a set with it

psql($pg, "ALTER TABLE llm_requests ADD CONSTRAINT t085_reject"
    . " CHECK (prompt_text NOT LIKE 'reject %')");
my ($c8, $id18, $c9, $c10) = put('call', ts(), 'keep 1',
    'keys', 'web-1', ts(), set_of(@web1, $K{oscar}),
    'call', ts(), 'reject me',
    'call', ts(), 'keep 2');
%d = drain('refused call');
is("$d{records} $d{inserted} $d{bad}", '4 2 1', 'refused call: 2 calls inserted, 1 bad');
is(count('llm_requests', "id IN ('$c8', '$c10')"), 2, 'refused call: the other calls are there');
is(count('llm_requests', "id = '$c9'"), 0, 'refused call: not stored');
is_deeply(events($id18), { "added oscar 05ca0000" => [ undef, line($K{oscar}) ] },
    'refused call: the set of its batch is applied, once');
is(count('llm_key_sets', "id = '$id18'"), 1, 'refused call: in llm_key_sets once');
like(log_since(), qr/record seq \d+ rejected by PostgreSQL: .*t085_reject/,
    'refused call: the log names the call row');
psql($pg, 'ALTER TABLE llm_requests DROP CONSTRAINT t085_reject');
@web1 = (@web1, $K{oscar});
is_deeply(keys_of('web-1'), expect_keys(@web1), 'web-1\'s keys after all that');

is(psql($pg, 'SELECT count(*) FROM llm_key_events e LEFT JOIN llm_key_sets s'
    . ' ON s.id = e.record_id WHERE s.host IS DISTINCT FROM e.host OR s.ts <> e.ts'), 0,
    'every event has the host and ts of its llm_key_sets row');

# --------------------------------------------------------- real nginx

# nginx's own records: a start and a reload with llm_observer_key lines
{
    my $ngring = "$dir/nginx.ring";
    my $ngp = { %$p, ring => $ngring };
    my $port = free_port();
    my $host = lc hostname();
    my %secret = (ana => 'sk-t085-ana', ben => 'sk-t085-ben', cy => 'sk-t085-cy');
    my %pre = map { $_ => substr(sha256_hex($secret{$_}), 0, 8) } keys %secret;

    my $keyline = sub {
        my ($who, $args) = @_;
        return "    llm_observer_key sha256:" . sha256_hex($secret{$who})
            . " name=$who $args;\n";
    };
    my $http = sub {
        my (@keys) = @_;
        return "    llm_observer_ring $ngring size=1m;\n" . join('', @keys) . <<"EOF";
    server {
        listen 127.0.0.1:$port;
        llm_observer on;
        location / { return 204; }
    }
EOF
    };

    my $ana1 = "ana\t$pre{ana}\tml\tgpt-4o*\t60\t100000\t1000000\t5.00/day\t2099-12-31";
    my $ana2 = "ana\t$pre{ana}\tml\tgpt-4o*\t120\t100000\t1000000\t5.00/day\t2099-12-31";
    my $ben = "ben\t$pre{ben}\t\t\t10\t\t\t\t";
    my $cy = "cy\t$pre{cy}\tops\t\t\t\t\t120.50/month\t";

    # the set nginx loaded last on this host
    my $last = sub {
        psql($pg, "SELECT id FROM llm_key_sets WHERE host = '$host' ORDER BY ts DESC LIMIT 1");
    };

    my $http1 = $http->($keyline->('ana', 'team=ml models=gpt-4o* rpm=60 tpm=100000 '
            . 'tpd=1000000 budget=5.00/day expires=2099-12-31'),
        $keyline->('ben', 'rpm=10'));
    my ($trc, $tout) = nginx_test_conf(nginx_conf_text(http => $http1));
    is($trc, 0, 'nginx -t accepts the llm_observer_key lines') or diag($tout);

    {
        my $t = time;
        my $ng = nginx_start(http => $http1);
        %d = drain('nginx start', p => $ngp);
        is("$d{records} $d{bad}", '1 0', 'nginx start: one key set record');
        my $rid = $last->();
        like($rid, $UUID, "nginx start: a key set of host \"$host\"");
        ok(abs(us('ts', "FROM llm_key_sets WHERE id = '$rid'") / 1e6 - $t) < 60,
            'nginx start: its ts is the time of the start');
        is_deeply(events($rid), {
            "added ana $pre{ana}" => [ undef, $ana1 ],
            "added ben $pre{ben}" => [ undef, $ben ],
        }, 'nginx start: ana and ben added, every field as written, the unset ones empty');

        my $http2 = $http->($keyline->('ana', 'team=ml models=gpt-4o* rpm=120 tpm=100000 '
                . 'tpd=1000000 budget=5.00/day expires=2099-12-31'),
            $keyline->('cy', 'team=ops budget=120.5/month'));
        ok(nginx_reload($ng, http => $http2), 'nginx reload: a new worker');
        %d = drain('nginx reload', p => $ngp);
        is("$d{records} $d{bad}", '1 0', 'nginx reload: one key set record');
        my $rid2 = $last->();
        isnt($rid2, $rid, 'nginx reload: a new key set');
        is_deeply(events($rid2), {
            "changed ana $pre{ana}" => [ $ana1, $ana2 ],
            "added cy $pre{cy}"     => [ undef, $cy ],
            "removed ben $pre{ben}" => [ $ben, undef ],
        }, 'nginx reload: ana changed, cy added, ben removed');
        is_deeply(keys_of($host), { $pre{ana} => $ana2, $pre{cy} => $cy },
            'nginx reload: llm_keys holds the new set');

        # a reload that changes nothing records nothing
        ok(nginx_reload($ng, http => $http2), 'nginx reload, same keys');
        %d = drain('nginx reload, same keys', p => $ngp);
        is($d{records}, 0, 'nginx reload, same keys: no record');

        # removing the last key is audited too
        ok(nginx_reload($ng, http => $http->()), 'nginx reload, no keys');
        %d = drain('nginx reload, no keys', p => $ngp);
        is("$d{records} $d{bad}", '1 0', 'nginx reload, no keys: one key set record');
        is_deeply(events($last->()), {
            "removed ana $pre{ana}" => [ $ana2, undef ],
            "removed cy $pre{cy}"   => [ $cy, undef ],
        }, 'nginx reload, no keys: ana and cy removed');

        is(count('llm_key_events', "host = '$host' AND coalesce(before, '')"
            . " || coalesce(after, '') ~ '[0-9a-f]{64}|sk-t085'"), 0,
            'nginx: no digest and no key in any event');

        nginx_stop($ng);
        error_log_ok($ng);
    }
}

# ---------------------------------------------------------------- the end

unlike(join("\n", grep { /\[error\]/ } split /\n/, log_since()), qr/./,
    'no error in the evaluator log since the last expected one');

diag(sprintf('085.key_audit: %.1f s', time - $T0));

done_testing;
