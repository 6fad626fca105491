#!/usr/bin/env python3
"""Writes the generated compat cases (tests/compat/NNN-name/) from the matrix below.

    python3 tests/compat/author.py            # (re)writes fluent.conf, input, case.env
    FLUENTD=... bash tests/compat/record.sh tests/compat/1*/ tests/compat/2*/

Only a case's config and input come from here; its expected/ bytes come from
real Fluentd (record.sh). Cases 01-24 are older, written by hand, and are
re-recorded the same way (but 21 and 22, whose kubernetes_metadata plugin is
not one of Fluentd's own). Every record carries its own time or none is
printed, so the expected bytes hold on any day."""
import os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
D = "#{ENV['COMPAT_DIR']}"
CASES = []


def indent(text, n):
    pad = ' ' * n
    return ''.join(pad + l if l.strip() else l for l in text.strip('\n').splitlines(True)) + '\n'


def section(name, body, arg=''):
    head = f'<{name}{" " + arg if arg else ""}>'
    return f'{head}\n{indent(body, 2) if body.strip() else ""}</{name}>\n'


def tail(parse, tag='app', extra=''):
    body = (f'@type tail\npath "{D}/input.log"\npos_file "{D}/tail.pos"\ntag {tag}\n'
            f'read_from_head true\n{extra}' + section('parse', parse))
    return section('source', body)


def net(kind, parse, tag='app', extra=''):
    body = f'@type {kind}\ntag {tag}\nbind 127.0.0.1\nport "{D.replace("DIR", "PORT")}"\n{extra}'
    if parse:
        body += section('parse', parse)
    return section('source', body)


def out(fmt=None, pattern='app app.**', path='${tag}', keys=None, extra='', buffer_extra=''):
    if keys is None:  # Fluentd: the chunk keys are exactly the path's placeholders
        keys = 'tag' if '${tag' in path else ''
    body = f'@type file\npath "{D}/out/{path}"\nappend true\n{extra}'
    if fmt is not None:
        body += section('format', fmt)
    body += section('buffer', f'flush_mode interval\nflush_interval 0.1s\n{buffer_extra}', keys)
    return section('match', body, pattern)


JSON = '@type json\n'


def case(name, conf, input_text, env=None, comment='', refused=None, files=None):
    CASES.append((name, conf, input_text, env or {}, comment, refused, files))


# ---------------------------------------------------------------- parsers: json
J = [
    '{"time":"2024-03-01T10:00:00Z","level":"info","msg":"started"}',
    '{"time":"2024-03-01T10:00:01Z","level":"warn","msg":"slow","ms":250}',
]
case('json-time-iso-z', tail('@type json\ntime_format %Y-%m-%dT%H:%M:%SZ\n') + out(),
     J, comment='json with time_format and a trailing Z')
case('json-time-type-float-default', tail('@type json\n') + out(),
     ['{"time":"1709287200.5","m":"a string time, no time_format"}',
      '{"time":1709287201,"m":"a number time"}',
      '{"time":1709287202.25,"m":"a float time"}'],
     comment='time_type float (the default) reads a string time as a number')
case('json-time-type-unixtime', tail('@type json\ntime_type unixtime\n') + out(),
     ['{"time":1709287200,"m":"a"}', '{"time":"1709287201","m":"b"}'])
case('json-time-type-string', tail('@type json\ntime_type string\ntime_format %d/%m/%Y %H:%M:%S\n') + out(),
     ['{"time":"01/03/2024 10:00:00","m":"a"}'])
case('json-keep-time-key', tail('@type json\ntime_format %Y-%m-%dT%H:%M:%S%z\nkeep_time_key true\n') + out(),
     ['{"m":"first","time":"2024-03-01T10:00:00+0100"}', '{"time":"2024-03-01T12:00:00-0230","m":"b"}'])
case('json-custom-time-key', tail('@type json\ntime_key ts\ntime_format %Y-%m-%d %H:%M:%S\n') + out(),
     ['{"ts":"2024-03-01 10:00:00","m":"a","time":"not the time"}'])
case('json-time-colon-z', tail('@type json\ntime_format %Y-%m-%dT%H:%M:%S%:z\n') + out(),
     ['{"time":"2024-03-01T10:00:00+09:00","m":"tokyo"}', '{"time":"2024-03-01T10:00:00-05:00","m":"ny"}',
      '{"time":"2024-03-01T10:00:00Z","m":"zulu"}'])
case('json-time-nanos', tail('@type json\ntime_format %Y-%m-%dT%H:%M:%S.%N%z\n') + out(),
     ['{"time":"2024-03-01T10:00:00.123456789+0000","m":"a"}', '{"time":"2024-03-01T10:00:00.5+0000","m":"b"}'])
case('json-time-millis', tail('@type json\ntime_format %Y-%m-%dT%H:%M:%S.%L%z\n') + out(
    '@type out_file\ntime_format %Y-%m-%dT%H:%M:%S.%N%z\n'),
     ['{"time":"2024-03-01T10:00:00.123+0000","m":"a"}'])
case('json-values', tail('@type json\n') + out(JSON),
     ['{"s":"x","i":42,"neg":-7,"f":2.5,"t":true,"fa":false,"n":null,"a":[1,"b",null],"h":{"k":{"k2":"v"}}}',
      '{"big":12345678901234567890,"e":1e3,"small":0.000001,"u":"\\u00e9\\u4e2d","esc":"tab\\there \\"q\\" \\\\"}'])
case('json-floats', tail('@type json\n') + out(JSON),
     ['{"a":1.0,"b":0.1,"c":1000.0,"d":-0.0,"e":1.5e+300,"f":123456789.123,"g":1e-7,"h":100.25,"i":3.14159}'])
case('json-invalid-lines', tail('@type json\n') + out(JSON),
     ['{"ok":1}', 'not json at all', '{"broken":', '[1,2,3]', '"a string"', '{"ok":2}'])
case('json-unicode-and-escapes', tail('@type json\n') + out(JSON),
     ['{"m":"caf\u00e9 \u4e2d\u6587 \U0001F600"}', '{"m":"line1\\nline2\\r\\u0001"}', '{"m":"\\ud83d\\ude00"}'])
case('json-null-time', tail('@type json\n') + out(JSON),
     ['{"time":null,"m":"null time"}', '{"m":"no time"}'])
case('json-estimate-false', tail('@type json\ntime_format %s\n') + out(),
     ['{"time":"1709287200","m":"epoch text with %s"}'])
case('json-timezone-param', tail('@type json\ntime_format %Y-%m-%d %H:%M:%S\ntimezone -05:00\n') + out(),
     ['{"time":"2024-03-01 10:00:00","m":"local to -05:00"}'])
case('json-timezone-name', tail('@type json\ntime_format %Y-%m-%d %H:%M:%S\ntimezone Asia/Tokyo\n') + out(),
     ['{"time":"2024-03-01 10:00:00","m":"local to Tokyo"}'])
case('json-localtime-false', tail('@type json\ntime_format %Y-%m-%d %H:%M:%S\nlocaltime false\n') + out(),
     ['{"time":"2024-03-01 10:00:00","m":"utc"}'], env={'TZ_ENV': 'Asia/Tokyo'})
case('json-host-tz', tail('@type json\ntime_format %Y-%m-%d %H:%M:%S\n') + out(),
     ['{"time":"2024-03-01 10:00:00","m":"host local"}'], env={'TZ_ENV': 'America/New_York'})
case('json-utc-true', tail('@type json\ntime_format %Y-%m-%d %H:%M:%S\nutc true\n') + out(),
     ['{"time":"2024-03-01 10:00:00","m":"utc"}'], env={'TZ_ENV': 'Europe/Berlin'})
case('json-null-empty-string', tail('@type json\nnull_empty_string true\n') + out(JSON),
     ['{"a":"","b":"x","c":[""]}'])
case('json-types', tail('@type json\ntypes n:integer,f:float,b:bool,s:string\n') + out(JSON),
     ['{"n":"42","f":"2.5","b":"true","s":7}', '{"n":"x","f":"1e2","b":"no","s":1.5}'])

# ---------------------------------------------------------------- parsers: regexp
RE_ACCESS = r'/^(?<host>[^ ]*) (?<code>\d+) (?<size>\d+) "(?<path>[^"]*)"$/'
case('regexp-basic', tail(f'@type regexp\nexpression {RE_ACCESS}\n') + out(JSON),
     ['10.0.0.1 200 512 "/index.html"', '10.0.0.2 404 0 "/missing"', 'garbage line'])
case('regexp-types', tail(f'@type regexp\nexpression {RE_ACCESS}\ntypes code:integer,size:float\n') + out(JSON),
     ['10.0.0.1 200 512 "/index.html"'])
case('regexp-types-bool-array', tail(
    '@type regexp\nexpression /^(?<on>\\S+) (?<list>\\S+) (?<n>\\S+)$/\ntypes on:bool,list:array,n:integer\n') + out(JSON),
     ['true a,b,c 12abc', 'yes x 0x1f', 'false , -3'])
case('regexp-time', tail(
    '@type regexp\nexpression /^(?<time>[^ ]+ [^ ]+) (?<msg>.*)$/\ntime_format %Y-%m-%d %H:%M:%S\n') + out(),
     ['2024-03-01 10:00:00 hello', '2024-03-01 10:00:05 world'])
case('regexp-time-colon-z', tail(
    '@type regexp\nexpression /^(?<time>\\S+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<log>.*)$/\n'
    'time_format %Y-%m-%dT%H:%M:%S.%N%:z\n') + out(),
     ['2024-03-01T10:00:00.123456789+09:00 stdout F hello from tokyo',
      '2024-03-01T10:00:00.5Z stderr F zulu time',
      '2024-03-01T10:00:00.000000001-05:00 stdout P partial'],
     comment="the DaemonSet's CRI expression and time format (%:z)")
case('regexp-ignorecase', tail('@type regexp\nexpression /^level=(?<level>info|warn) (?<m>.*)$/\nignorecase true\n') + out(JSON),
     ['LEVEL=INFO mixed case', 'level=warn lower', 'level=debug dropped'])
case('regexp-keep-time-key', tail(
    '@type regexp\nexpression /^(?<time>\\d+) (?<m>.*)$/\ntime_format %s\nkeep_time_key true\n') + out(),
     ['1709287200 epoch seconds'])
case('regexp-null-empty', tail('@type regexp\nexpression /^(?<a>[^,]*),(?<b>[^,]*)$/\nnull_empty_string true\n') + out(JSON),
     ['x,', ',y'])
case('regexp-optional-group', tail('@type regexp\nexpression /^(?<a>\\w+)( (?<b>\\w+))?$/\n') + out(JSON),
     ['one two', 'one'])
case('regexp-timezone', tail(
    '@type regexp\nexpression /^(?<time>[^ ]+ [^ ]+) (?<msg>.*)$/\ntime_format %Y-%m-%d %H:%M:%S\ntimezone +09:00\n') + out(),
     ['2024-03-01 10:00:00 tokyo wall clock'])
case('regexp-time-strptime-names', tail(
    '@type regexp\nexpression /^\\[(?<time>[^\\]]+)\\] (?<msg>.*)$/\ntime_format %a %b %d %H:%M:%S %Y\n') + out(),
     ['[Fri Mar 01 10:00:00 2024] named days', '[Sat Mar 02 23:59:59 2024] b'])
case('regexp-time-float-type', tail(
    '@type regexp\nexpression /^(?<time>\\S+) (?<msg>.*)$/\ntime_type float\n') + out(),
     ['1709287200.125 float seconds'])

# ---------------------------------------------------------------- parsers: csv / tsv
case('csv-basic', tail('@type csv\nkeys a,b,c\n') + out(JSON),
     ['1,two,"three, quoted"', 'x,"y ""q""",', 'only'])
case('csv-types-time', tail('@type csv\nkeys time,host,n\ntime_key time\ntime_format %Y-%m-%d %H:%M:%S\ntypes n:integer\n') + out(),
     ['2024-03-01 10:00:00,web1,12'])
case('csv-delimiter', tail('@type csv\nkeys a,b\ndelimiter ;\n') + out(JSON), ['1;2', 'x;"y;z"'])
case('csv-more-columns', tail('@type csv\nkeys a,b\n') + out(JSON), ['1,2,3,4'])
case('tsv-basic', tail('@type tsv\nkeys a,b,c\n') + out(JSON), ['1\t2\t3', 'x\t\tz', 'p\tq'])
case('tsv-delimiter-time', tail(
    '@type tsv\nkeys time,m\ndelimiter |\ntime_key time\ntime_format %Y-%m-%dT%H:%M:%S\n') + out(),
     ['2024-03-01T10:00:00|hello'])

# ---------------------------------------------------------------- parsers: ltsv
case('ltsv-basic', tail('@type ltsv\n') + out(JSON), ['a:1\tb:two\tc:', 'host:10.0.0.1\tpath:/x:y'])
case('ltsv-field-without-colon', tail('@type ltsv\n') + out(JSON),
     ['a:1\tnocolon\tb:2', 'lonely', 'c:3'])
case('ltsv-delimiters', tail('@type ltsv\ndelimiter ,\nlabel_delimiter =\n') + out(JSON), ['a=1,b=x=y,c='])
case('ltsv-time-types', tail(
    '@type ltsv\ntime_key t\ntime_format %Y-%m-%d %H:%M:%S\ntypes n:integer\n') + out(),
     ['t:2024-03-01 10:00:00\tn:5\tm:x'])
case('ltsv-delimiter-pattern', tail('@type ltsv\ndelimiter_pattern /\\s+/\n') + out(JSON),
     ['a:1  b:2\tc:3'])

# ---------------------------------------------------------------- parsers: apache, nginx, apache_error
A2 = ['127.0.0.1 - frank [10/Oct/2023:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://ex.com/start" "Mozilla/5.0"',
      '10.0.0.5 - - [10/Oct/2023:13:55:37 +0000] "POST /api HTTP/1.1" 500 - "-" "-"',
      '192.168.1.1 - - [10/Oct/2023:13:55:38 +0900] "GET / HTTP/1.1" 304 0']
case('apache2', tail('@type apache2\n') + out(), A2)
case('apache2-keep-time', tail('@type apache2\nkeep_time_key true\n') + out(JSON), A2[:1])
case('apache-regexp-common', tail(
    '@type regexp\nexpression /^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \\[(?<time>[^\\]]*)\\] "(?<method>\\S+)(?: +(?<path>[^ ]*) +\\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)$/\n'
    'time_format %d/%b/%Y:%H:%M:%S %z\n') + out(), ['127.0.0.1 - bob [10/Oct/2023:13:55:36 -0700] "GET /x HTTP/1.0" 200 12'])
NG = ['93.184.216.34 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "curl/8.0"',
      '93.184.216.34 - alice [10/Oct/2023:13:55:37 +0200] "GET /a HTTP/2.0" 404 153 "https://ref/" "Mozilla/5.0 (X11)"']
case('nginx', tail('@type nginx\n') + out(), NG)
case('nginx-forwarded-for', tail('@type nginx\n') + out(),
     [NG[0] + ' "203.0.113.7"', NG[1] + ' "198.51.100.1, 10.0.0.1"', NG[0] + ' "-"'],
     comment='a trailing quoted $http_x_forwarded_for')
case('nginx-keep-time', tail('@type nginx\nkeep_time_key true\n') + out(JSON), NG[:1])
AE = ['[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration',
      '[Wed Oct 11 14:32:53.123456 2000] [core:error] [pid 1234:tid 5678] [client 10.0.0.1:4567] AH00124: Request exceeded',
      '[Wed Oct 11 14:32:54 2000] [notice] Apache configured -- resuming normal operations']
case('apache-error', tail('@type apache_error\n') + out(), AE)

# ---------------------------------------------------------------- parsers: syslog
S3 = ['Mar  1 10:00:00 web1 sshd[4242]: Accepted publickey for alice',
      'Mar  1 10:00:01 web1 cron: job started',
      'Mar 11 10:00:02 web1 kernel: [12345.678] eth0 link up']
case('syslog-3164', tail('@type syslog\n') + out(), S3, env={})
case('syslog-3164-pri', tail('@type syslog\nwith_priority true\n') + out(),
     ['<34>' + S3[0], '<13>' + S3[1], S3[2]])
case('syslog-3164-colonless', tail('@type syslog\n') + out(),
     ['Mar  1 10:00:00 web1 myapp message without a colon'])
case('syslog-3164-no-colonless', tail('@type syslog\nsupport_colonless_ident false\n') + out(),
     ['Mar  1 10:00:00 web1 myapp message without a colon', 'Mar  1 10:00:01 web1 app: with'])
S5 = ['<165>1 2024-03-01T10:00:00.003Z host1 evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event',
      '<34>1 2024-03-01T10:00:01+02:00 host2 su 77 - - su root failed',
      '<13>1 2024-03-01T10:00:02.123456Z host3 app - - [a@1 b="c"][d@2 e="f"]']
case('syslog-5424', tail('@type syslog\nmessage_format rfc5424\nwith_priority true\n') + out(), S5)
case('syslog-5424-without-pri', tail('@type syslog\nmessage_format rfc5424\n') + out(),
     [s[s.index('>') + 1:] for s in S5] + ['<13>1 2024-03-01T10:00:03Z h app - - - with pri',
                                           '2024-03-01T10:00:04Z h app - - - neither PRI nor version'],
     comment='rfc5424 without with_priority: lines start "1 2024-…"')
case('syslog-auto', tail('@type syslog\nmessage_format auto\nwith_priority true\n') + out(),
     ['<34>' + S3[0], S5[0], S5[1]])
case('syslog-5424-time-format', tail(
    '@type syslog\nmessage_format rfc5424\nwith_priority true\nrfc5424_time_format %Y-%m-%dT%H:%M:%S%z\n') + out(),
     ['<13>1 2024-03-01T10:00:00+0000 h app 1 - - custom time format'])

# ---------------------------------------------------------------- parsers: none, multiline
case('none-default', tail('@type none\n') + out(JSON), ['plain text', '  spaces kept  ', '{"not":"parsed"}'])
case('none-message-key', tail('@type none\nmessage_key log\n') + out(JSON), ['x'])
case('multiline-java', tail(
    '@type multiline\nformat_firstline /^\\d{4}-\\d\\d-\\d\\d/\n'
    'format1 /^(?<time>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) (?<level>\\w+) (?<message>.*)/\n'
    'time_format %Y-%m-%d %H:%M:%S\n', extra='multiline_flush_interval 1s\n') + out(),
     ['2024-03-01 10:00:00 ERROR boom', 'java.lang.RuntimeException: x', '\tat a.b(C.java:1)',
      '2024-03-01 10:00:01 INFO fine', '2024-03-01 10:00:02 INFO last'])
case('multiline-formats', tail(
    '@type multiline\nformat_firstline /^Started/\nformat1 /^Started (?<method>\\w+) "(?<path>[^"]+)"\\n/\n'
    'format2 /Completed (?<code>\\d+)/\n', extra='multiline_flush_interval 1s\n') + out(JSON),
     ['Started GET "/a"', 'Processing', 'Completed 200 OK', 'Started POST "/b"', 'Completed 201 Created'])

# ---------------------------------------------------------------- filters: grep
G = ['{"level":"error","msg":"disk full","n":5,"h":{"k":"deep"}}',
     '{"level":"info","msg":"ok","n":50}', '{"level":"warn","msg":"slow","n":500}', '{"msg":"no level"}']
case('grep-regexp', tail(JSON) + section('filter', '@type grep\n' + section('regexp', 'key level\npattern /^(error|warn)$/'), 'app') + out(JSON), G)
case('grep-exclude', tail(JSON) + section('filter', '@type grep\n' + section('exclude', 'key level\npattern /info/'), 'app') + out(JSON), G)
case('grep-number-value', tail(JSON) + section('filter', '@type grep\n' + section('regexp', 'key n\npattern /^5/'), 'app') + out(JSON), G)
case('grep-nested-key', tail(JSON) + section('filter', '@type grep\n' + section('regexp', 'key $.h.k\npattern /deep/'), 'app') + out(JSON), G)
case('grep-and-or', tail(JSON) + section('filter', '@type grep\n' + section('or', section('regexp', 'key level\npattern /error/') + section('regexp', 'key msg\npattern /slow/')) +
                                         section('and', section('exclude', 'key level\npattern /warn/') + section('exclude', 'key n\npattern /^500$/')), 'app') + out(JSON), G)
case('grep-v012-flat', tail(JSON) + section('filter', '@type grep\nregexp1 level error\nexclude1 msg ok', 'app') + out(JSON), G)
case('grep-multiple-regexp', tail(JSON) + section('filter', '@type grep\n' + section('regexp', 'key level\npattern /./') + section('regexp', 'key msg\npattern /s/'), 'app') + out(JSON), G)

# ---------------------------------------------------------------- filters: record_transformer
RT_IN = ['{"time":"2024-03-01T10:00:00Z","s":"text","i":5,"f":2.5,"t":true,"n":null,"a":[1,"x"],"h":{"k":"v"}}']
JT = '@type json\ntime_format %Y-%m-%dT%H:%M:%SZ\n'


def rt(record, extra='', tag='app.web.front'):
    return (tail(JT, tag=tag) + section('filter', '@type record_transformer\n' + extra + section('record', record), 'app.**')
            + out())


case('rt-tag-placeholders', rt('t ${tag}\np0 ${tag_parts[0]}\np2 ${tag_parts[2]}\npm1 ${tag_parts[-1]}\n'
                               'pre1 ${tag_prefix[1]}\nsuf1 ${tag_suffix[1]}\nsufm1 ${tag_suffix[-1]}\n'), RT_IN)
case('rt-auto-typecast-default', rt('si ${record["i"]}\nsf ${record["f"]}\nst ${record["t"]}\nsn ${record["n"]}\n'
                                    'sa ${record["a"]}\nsh ${record["h"]}\nss ${record["s"]}\nmissing ${record["nope"]}\n'), RT_IN,
     comment='auto_typecast defaults to true in Fluentd 1.19')
case('rt-auto-typecast-false', rt('si ${record["i"]}\nsn ${record["n"]}\nsh ${record["h"]}\n', 'auto_typecast false\n'), RT_IN)
case('rt-ruby-text-in-string', rt('h h=${record["h"]}\na a=${record["a"]}\nn n=${record["n"]}.\nf f=${record["f"]}\n'), RT_IN,
     comment="a hash or array inside a longer string is Ruby's text")
case('rt-nested-without-ruby', rt('k ${record["h"]["k"]}\nks x${record["h"]["k"]}y\n'), RT_IN,
     comment='${record["h"]["k"]} is not a placeholder without enable_ruby')
case('rt-bare-field', rt('bare ${s}\nbares x${s}y\ni ${i}\n'), RT_IN,
     comment='${field} is not a placeholder without enable_ruby')
case('rt-hostname-time', rt('host ${hostname}\nwhen ${time}\n'), RT_IN)
case('rt-remove-keys', rt('added yes\n', 'remove_keys a,h,nope\n'), RT_IN)
case('rt-renew-record', rt('only ${record["s"]}\n', 'renew_record true\nkeep_keys i,t\n'), RT_IN)
case('rt-renew-time-key', (tail('@type json\n', tag='app.x') + section('filter', '@type record_transformer\nrenew_time_key epoch\n' +
                                                                 section('record', 'x 1'), 'app.**') + out()),
     ['{"epoch":1709287200,"m":"time from a field"}', '{"epoch":"1709287300","m":"text epoch"}'])
case('rt-existing-key-order', rt('s replaced\nz appended\ni ${record["s"]}-${record["i"]}\n'), RT_IN)
case('rt-literal-text', rt('dollar $x\nbraces x{a}\nquote "q"\nempty ""\n'), RT_IN)
case('rt-single-quote-record', rt("k ${record['s']}\n"), RT_IN)

# ---------------------------------------------------------------- filters: parser
P_IN = ['{"time":"2024-03-01T10:00:00Z","log":"{\\"inner\\":1,\\"s\\":\\"x\\"}","other":"kept"}',
        '{"time":"2024-03-01T10:00:01Z","log":"not json","other":"kept2"}',
        '{"time":"2024-03-01T10:00:02Z","other":"no log"}']


def pf(params, parse=JSON, extra_conf='', fmt=JSON):
    return (tail(JT) + section('filter', '@type parser\nkey_name log\n' + params + section('parse', parse), 'app') + extra_conf + out(fmt))


case('parser-filter-basic', pf(''), P_IN)
case('parser-filter-reserve-data', pf('reserve_data true\n'), P_IN)
case('parser-filter-remove-key', pf('reserve_data true\nremove_key_name_field true\n'), P_IN)
case('parser-filter-hash-value-field', pf('reserve_data true\nhash_value_field parsed\n'), P_IN)
case('parser-filter-prefix', pf('reserve_data true\ninject_key_prefix log.\n'), P_IN)
case('parser-filter-reserve-time', pf('reserve_time true\n', fmt=None), P_IN)
case('parser-filter-regexp', pf('reserve_data true\n', '@type regexp\nexpression /^(?<w1>\\w+) (?<w2>\\w+)$/\n'), P_IN)
case('parser-filter-time-from-inner', (tail(JT) + section('filter', '@type parser\nkey_name log\n' +
                                                         section('parse', '@type json\ntime_format %Y-%m-%d %H:%M:%S\n'), 'app') + out()),
     ['{"time":"2024-03-01T10:00:00Z","log":"{\\"time\\":\\"2024-05-05 05:05:05\\",\\"m\\":1}"}'])
case('parser-filter-error-label', pf('emit_invalid_record_to_error true\n', extra_conf=section(
    'label', out(JSON, pattern='**', path='error'), '@ERROR')), P_IN)

# ---------------------------------------------------------------- formatters
F_IN = ['{"time":"2024-03-01T10:00:00Z","s":"text","i":5,"f":2.5,"f1":1.0,"t":true,"n":null,"a":[1,"x"],"h":{"k":"v"},"e":""}']
case('format-out-file-default', tail(JT) + out(), F_IN)
case('format-out-file-options', tail(JT) + out('@type out_file\noutput_tag false\ndelimiter SPACE\ntime_format %Y%m%d %H:%M:%S.%L\n'), F_IN)
case('format-out-file-no-time', tail(JT) + out('@type out_file\noutput_time false\ndelimiter COMMA\n'), F_IN)
case('format-out-file-utc', tail(JT) + out('@type out_file\nutc true\n'), F_IN, env={'TZ_ENV': 'Asia/Tokyo'})
case('format-out-file-localtime', tail(JT) + out(), F_IN, env={'TZ_ENV': 'Asia/Tokyo'})
case('format-out-file-timezone', tail(JT) + out('@type out_file\ntimezone -03:30\n'), F_IN)
case('format-out-file-time-type', tail(JT) + out('@type out_file\ntime_type unixtime\n'), F_IN)
case('format-out-file-time-float', tail(JT) + out('@type out_file\ntime_type float\n'), F_IN)
case('format-json', tail(JT) + out(JSON), F_IN)
case('format-json-no-newline', tail(JT) + out('@type json\nadd_newline false\n'), F_IN)
case('format-ltsv', tail(JT) + out('@type ltsv\n'), F_IN, comment="ltsv with non-string values: Ruby's to_s")
case('format-ltsv-delimiters', tail(JT) + out('@type ltsv\ndelimiter ,\nlabel_delimiter =\n'),
     ['{"time":"2024-03-01T10:00:00Z","a":"x,y","b":"1=2"}'])
case('format-single-value', tail(JT) + out('@type single_value\n'), ['{"time":"2024-03-01T10:00:00Z","message":"hello"}',
                                                                     '{"time":"2024-03-01T10:00:00Z","other":"no message"}'])
case('format-single-value-key', tail(JT) + out('@type single_value\nmessage_key h\n'), F_IN,
     comment="single_value of a hash: Ruby's to_s")
case('format-single-value-types', (tail(JT) + out('@type single_value\nmessage_key f1\nadd_newline true\n')), F_IN)
case('format-single-value-no-newline', tail(JT) + out('@type single_value\nadd_newline false\n'),
     ['{"time":"2024-03-01T10:00:00Z","message":"a"}', '{"time":"2024-03-01T10:00:00Z","message":"b"}'])
case('format-csv', tail(JT) + out('@type csv\nfields s,i,f,n,e\n'), F_IN)
case('format-csv-quoting', tail(JT) + out('@type csv\nfields a,b\nforce_quotes false\n'),
     ['{"time":"2024-03-01T10:00:00Z","a":"x,y","b":"say \\"hi\\""}', '{"time":"2024-03-01T10:00:00Z","a":"plain","b":5}'])
case('format-csv-delimiter', tail(JT) + out('@type csv\nfields a,b\ndelimiter \\t\n'),
     ['{"time":"2024-03-01T10:00:00Z","a":"x","b":"y"}'])
case('format-csv-nested', tail(JT) + out('@type csv\nfields h,a\n'), F_IN)
case('format-stdout-json', tail(JT) + out('@type stdout\n'), F_IN)
case('format-hash', tail(JT) + out('@type hash\n'), F_IN)

# ---------------------------------------------------------------- inject
def inj(body, fmt=JSON, env=None, name=None, inp=None):
    return tail(JT) + out(fmt, extra=section('inject', body))


case('inject-time-float', inj('time_key t\n'), F_IN)
case('inject-time-float-fraction', tail('@type json\ntime_format %Y-%m-%dT%H:%M:%S.%N%z\n') + out(JSON, extra=section('inject', 'time_key t\n')),
     ['{"time":"2024-03-01T10:00:00.1+0000"}', '{"time":"2024-03-01T10:00:00.123456789+0000"}', '{"time":"2024-03-01T10:00:00.5+0000"}'])
case('inject-time-unixtime', inj('time_key t\ntime_type unixtime\n'), F_IN)
case('inject-time-string', inj('time_key t\ntime_type string\n'), F_IN)
case('inject-time-string-format', inj('time_key t\ntime_type string\ntime_format %Y-%m-%d %H:%M:%S.%3N %z\n'), F_IN)
case('inject-time-string-utc', inj('time_key t\ntime_type string\nutc true\n'), F_IN, env={'TZ_ENV': 'Asia/Tokyo'})
case('inject-time-string-timezone', inj('time_key t\ntime_type string\ntimezone Asia/Kolkata\n'), F_IN)
case('inject-time-string-localtime', inj('time_key t\ntime_type string\n'), F_IN, env={'TZ_ENV': 'America/New_York'})
case('inject-tag-hostname', inj('tag_key tg\nhostname_key hn\n'), F_IN)
case('inject-hostname-value', inj('hostname_key hn\nhostname fixed.example\n'), F_IN)
case('inject-existing-keys', inj('tag_key s\ntime_key i\ntime_type unixtime\n'), F_IN)
case('inject-out-file-format', inj('tag_key tg\ntime_key t\ntime_type string\n', fmt=None), F_IN)
case('inject-time-millis', inj('time_key t\ntime_type unixtime_millis\n'), F_IN)

# ---------------------------------------------------------------- types: float formatting through types
case('types-float-text', tail('@type regexp\nexpression /^(?<a>\\S+) (?<b>\\S+) (?<c>\\S+) (?<d>\\S+)$/\ntypes a:float,b:float,c:float,d:float\n') + out(JSON),
     ['1 0.1 1e300 -0', '1000 2.50 1e-5 123456789012345678'])
case('types-integer-text', tail('@type regexp\nexpression /^(?<a>\\S+) (?<b>\\S+) (?<c>\\S+)$/\ntypes a:integer,b:integer,c:integer\n') + out(JSON),
     ['42 -7 3.9', '0x10 1e3 abc', '99999999999999999999 +5 007'])
case('types-time', tail('@type regexp\nexpression /^(?<a>\\S+ \\S+) (?<m>.*)$/\ntypes a:time:%Y-%m-%d %H:%M:%S\n') + out(JSON),
     ['2024-03-01 10:00:00 a time typed field'])

# ---------------------------------------------------------------- buffer paths and chunk keys
TL = ['{"time":"2024-03-01T10:00:00Z","k":"alpha","m":1}', '{"time":"2024-03-01T11:30:00Z","k":"beta","m":2}',
      '{"time":"2024-03-02T00:00:01Z","k":"alpha","m":3}']
case('path-tag-parts', tail(JT, tag='app.web.front') + out(JSON, path='${tag[1]}/${tag[2]}'), TL)
case('path-time-daily', tail(JT) + out(JSON, path='%Y%m%d/${tag}', keys='tag,time', buffer_extra='timekey 1d\ntimekey_wait 0\n'), TL)
case('path-time-hourly', tail(JT) + out(JSON, path='%Y/%m/%d/%H-${tag}', keys='tag,time', buffer_extra='timekey 1h\ntimekey_wait 0\n'), TL)
case('path-record-key', tail(JT) + out(JSON, path='${k}', keys='k'), TL)
case('path-nested-key', tail(JT) + out(JSON, path='${$.h.k}', keys='$.h.k'),
     ['{"time":"2024-03-01T10:00:00Z","h":{"k":"n1"}}', '{"time":"2024-03-01T10:00:00Z","h":{"k":"n2"}}'])
case('path-time-appended', tail(JT) + out(JSON, path='plain', keys='time', buffer_extra='timekey 1d\ntimekey_wait 0\n'), TL)
case('path-time-utc-false', tail(JT) + out(JSON, path='%Y%m%d-%H', keys='time', buffer_extra='timekey 1h\ntimekey_wait 0\ntimekey_use_utc false\n'),
     TL, env={'TZ_ENV': 'Asia/Tokyo'})
case('path-time-utc-true', tail(JT) + out(JSON, path='%Y%m%d-%H', keys='time', buffer_extra='timekey 1h\ntimekey_wait 0\ntimekey_use_utc true\n'),
     TL, env={'TZ_ENV': 'Asia/Tokyo'})
case('path-tag-and-key', tail(JT, tag='app.svc') + out(JSON, path='${tag}-${k}', keys='tag,k'), TL)
case('path-suffix', tail(JT) + out(JSON, extra='path_suffix .json\n'), TL)
case('path-no-suffix', tail(JT) + out(JSON, extra='add_path_suffix false\n'), TL)

# ---------------------------------------------------------------- labels, relabel, copy, routing
case('label-route', tail(JT, extra='@label @MAIN\n') + section('label', out(JSON, pattern='**', path='main'), '@MAIN'), TL)
case('relabel', tail(JT) + section('match', '@type relabel\n@label @NEXT', 'app') +
     section('label', section('filter', '@type record_transformer\n' + section('record', 'via next'), '**') + out(JSON, pattern='**', path='next'), '@NEXT'), TL)
case('copy-two-stores', tail(JT) + section('match', '@type copy\n' + section('store', f'@type file\npath "{D}/out/a"\nappend true\n' + section('format', JSON) +
                                                                                 section("buffer", "flush_mode interval\nflush_interval 0.1s\n")) +
                                           section('store', f'@type file\npath "{D}/out/b"\nappend true\n' + section('format', '@type ltsv') +
                                                   section("buffer", "flush_mode interval\nflush_interval 0.1s\n")), 'app'), TL)
case('filter-order', tail(JT) + section('filter', '@type record_transformer\n' + section('record', 'step one'), 'app') +
     section('filter', '@type record_transformer\n' + section('record', 'step ${record["step"]}-two'), 'app') + out(JSON), TL[:1])
case('match-first-wins', tail(JT, tag='app.a') + out(JSON, pattern='app.a', path='first') + out(JSON, pattern='app.**', path='second'), TL[:1])
case('match-patterns', tail(JT, tag='app.x.y') + out(JSON, pattern='app.*', path='star') + out(JSON, pattern='{other,app.x.*}', path='brace'), TL[:1])

# ---------------------------------------------------------------- in_tail specifics
case('tail-path-key', tail(JSON, extra='path_key file\n') + out(JSON), ['{"m":1}'])
case('tail-error-label', tail('@type regexp\nexpression /^(?<n>\\d+)$/\n') + section('label', out(JSON, pattern='**', path='error-${tag}'), '@ERROR') + out(JSON),
     ['1', 'not a number', '2'], comment='unparsable lines with a <label @ERROR>')
case('tail-emit-unmatched', tail('@type regexp\nexpression /^(?<n>\\d+)$/\n', extra='emit_unmatched_lines true\n') + out(JSON),
     ['1', 'not a number', '2'])
case('tail-pos-file', tail(JSON) + out(JSON), ['{"m":1}', '{"m":2}'], env={'POS': '1'})
case('tail-two-sources-one-pos', tail(JSON) + tail(JSON, tag='app.other').replace('input.log"', 'other.log"') + out(JSON),
     ['{"m":1}'], refused='pos_file')
case('tail-skip-refresh', tail(JSON, extra='refresh_interval 1\nenable_stat_watcher false\n') + out(JSON), ['{"m":1}'])
case('tail-max-line-size', tail(JSON, extra='max_line_size 20\n') + out(JSON),
     ['{"m":"short"}', '{"m":"a line longer than twenty bytes"}', '{"m":"ok"}'])
case('tail-multiline-none', tail('@type none\n') + out(JSON), ['a', '', 'b', '   '])
case('tail-crlf', tail('@type none\n') + out(JSON), ['a\r', 'b\r'])

# ---------------------------------------------------------------- network inputs
case('tcp-none', net('tcp', '@type none\n') + out(JSON), ['one', 'two', 'last without newline'], env={'FEED': 'tcp'}, comment='in_tcp: the last message without a delimiter')
case('tcp-json', net('tcp', JT) + out(), ['{"time":"2024-03-01T10:00:00Z","m":1}', '{"time":"2024-03-01T10:00:01Z","m":2}', ''], env={'FEED': 'tcp'})
case('tcp-delimiter', net('tcp', '@type none\n', extra='delimiter "|"\n') + out(JSON), ['a|b|c|'], env={'FEED': 'tcp'})
case('tcp-source-hostname', net('tcp', '@type none\n', extra='source_hostname_key host\n') + out(JSON), ['x', ''], env={'FEED': 'tcp'})
case('tcp-source-address', net('tcp', '@type none\n', extra='source_address_key addr\n') + out(JSON), ['x', ''], env={'FEED': 'tcp'})
case('tcp-source-both', net('tcp', JT, extra='source_address_key addr\nsource_hostname_key host\n') + out(JSON), ['{"time":"2024-03-01T10:00:00Z","m":1}', ''], env={'FEED': 'tcp'})
case('udp-none', net('udp', '@type none\n') + out(JSON), ['one', 'two'], env={'FEED': 'udp'})
case('udp-source-hostname', net('udp', '@type none\n', extra='source_hostname_key host\n') + out(JSON), ['x'], env={'FEED': 'udp'})
case('udp-json', net('udp', JT) + out(), ['{"time":"2024-03-01T10:00:00Z","m":1}'], env={'FEED': 'udp'})
SY = ['<34>Mar  1 10:00:00 web1 sshd[4242]: Accepted publickey', '<13>Mar  1 10:00:01 web1 app: plain']
case('syslog-udp', net('syslog', '', tag='sys') + out(pattern='sys.**'), SY, env={'FEED': 'udp'})
case('syslog-udp-keys', net('syslog', '', tag='sys', extra='severity_key sev\nfacility_key fac\npriority_key pri\nsource_hostname_key src\n') + out(pattern='sys.**'), SY, env={'FEED': 'udp'})
case('syslog-tcp', net('syslog', '', tag='sys', extra=section('transport', '', 'tcp')) + out(pattern='sys.**'), SY + [''], env={'FEED': 'tcp'})
case('syslog-udp-5424', net('syslog', '@type syslog\nmessage_format rfc5424\n', tag='sys') + out(pattern='sys.**'), [S5[0], S5[1]], env={'FEED': 'udp'})
case('syslog-udp-source-address', net('syslog', '', tag='sys', extra='source_address_key addr\n') + out(pattern='sys.**'), SY, env={'FEED': 'udp'})

# ---------------------------------------------------------------- config families
case('config-unknown-param', tail(JSON, extra='no_such_parameter 5\n') +
     out(JSON, buffer_extra='flush_method interval\n'), ['{"m":1}'], comment="unknown parameters: Fluentd warns and runs")
case('config-empty-include-glob', f'@include "{D}/conf.d/*.conf"\n' + tail(JSON) + out(JSON), ['{"m":1}'])
case('config-workers', section('system', 'workers 2') + section('worker', tail(JSON) + out(JSON, path='w#{worker_id}-${tag}'), '0'), ['{"m":1}'])
case('config-system-workers-1', section('system', 'workers 1') + tail(JSON) + out(JSON), ['{"m":1}'])


# ---------------------------------------------------------------- in_http
# FEED=http: `input` is raw HTTP/1.1 requests sent back to back on one
# connection (the last one closes it); the responses land in out/responses.
def hreq(path, body=b'', ctype='application/json', method='POST', headers=(), close=False,
         http10=False, chunked=False):
    if isinstance(body, str):
        body = body.encode()
    h = [f'{method} {path} HTTP/{"1.0" if http10 else "1.1"}', 'Host: localhost']
    if ctype:
        h.append(f'Content-Type: {ctype}')
    h += list(headers)
    if chunked:
        h.append('Transfer-Encoding: chunked')
        body = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 7]), body[i:i + 7])
                        for i in range(0, len(body), 7)) + b'0\r\n\r\n'
    elif method not in ('GET', 'OPTIONS') or body:
        h.append(f'Content-Length: {len(body)}')
    if close:
        h.append('Connection: close')
    return ('\r\n'.join(h) + '\r\n\r\n').encode() + body


def http(extra='', parse=''):
    body = f'@type http\nbind 127.0.0.1\nport "{D.replace("DIR", "PORT")}"\n{extra}'
    if parse:
        body += section('parse', parse)
    return section('source', body)


HTTP_OUT = out(pattern='**', extra=section('inject', 'time_key ts\ntime_type string\ntime_format %Y-%m-%dT%H:%M:%S.%N\n'))
HTTP_JSON_OUT = out(JSON, pattern='**')
HE = {'FEED': 'http'}
T0 = 1709287200
case('http-json', http() + HTTP_OUT, [
    hreq('/app/web', f'{{"time":{T0}.123456789,"m":"one"}}'),
    hreq('/app/web', f'[{{"time":{T0 + 1},"m":"two"}},5,{{"time":{T0 + 2}.5,"m":"three"}}]'),
    hreq('/app/web?time=1709287210.25', '{"m":"query time wins","time":1}'),
    hreq('/app/web', f'{{"time":{T0 + 3},"nested":{{"a":[1,2.5,null,true]}},"u":"\\u00e9"}}', close=True),
], env=HE, comment='in_http: JSON bodies, arrays (non-objects skipped), record and query times')
case('http-form-and-query', http() + HTTP_OUT, [
    hreq('/app/form?time=1709287200', 'json=%7B%22m%22%3A%22form%22%7D&x=1', ctype='application/x-www-form-urlencoded'),
    hreq('/app/form', f'msgpack=&json=%7B%22m%22%3A%22plus+sign%22%2C%22time%22%3A{T0}%7D', ctype='application/x-www-form-urlencoded'),
    hreq('/app/query?json=%7B%22m%22%3A%22in+the+query%22%7D&time=1709287201.5', '', ctype=None),
    hreq('/app/ndjson?time=1709287202', f'{{"m":"n1"}}\r\n{{"m":"n2"}}\n\n', ctype='application/x-ndjson', close=True),
], env=HE, comment='in_http: form fields, the query string, ndjson')
case('http-errors', http() + HTTP_OUT, [
    hreq('/app/bad', '{"time":"2024-03-01","m":"a string time"}'),
    hreq('/app/bad', 'no json here', ctype='text/plain'),
    hreq('/app/bad', '{"time":true,"m":"a bool time"}'),
    hreq('/app/ok', f'{{"time":{T0},"m":"after the errors"}}', close=True),
], env=HE, comment='in_http: a request that fails is answered 400 and emits nothing')
case('http-msgpack', http() + HTTP_OUT, [
    hreq('/app/mp', 'MSGPACK1', ctype='application/msgpack'),
    hreq('/app/mp', 'MSGPACK2', ctype='application/msgpack', close=True),
], env=HE, comment='in_http: MessagePack bodies: a map, an array of maps, two maps back to back')
case('http-headers-and-params', http('add_http_headers true\nadd_remote_addr true\nadd_query_params true\nadd_tag_prefix pre\n') + HTTP_JSON_OUT, [
    hreq('/app/h?time=1709287200&q-one=1&q2=x+y', '{"m":"headers"}', headers=['X-Custom-Thing: v1', 'User-Agent: compat']),
    hreq('/app/h?time=1709287200', '{"m":"forwarded"}', headers=['X-Forwarded-For: 10.1.2.3, 10.0.0.1']),
    hreq('/a//b/?time=1709287200', '{"m":"empty parts"}', close=True),
], env=HE, comment='in_http: add_http_headers, add_remote_addr (X-Forwarded-For), add_query_params, add_tag_prefix, a path with empty parts')
case('http-204', http('use_204_response true\n') + HTTP_JSON_OUT, [
    hreq('/app/a?time=1709287200', '{"m":1}'),
    hreq('/app/a?time=1709287200', '{"m":2}', http10=True),
], env=HE, comment='in_http: use_204_response; HTTP/1.0 closes the connection')
case('http-empty-img', http('respond_with_empty_img true\n') + HTTP_JSON_OUT, [
    hreq('/app/a?time=1709287200', '{"m":1}', close=True),
], env=HE, comment='in_http: respond_with_empty_img')
case('http-cors', http('cors_allow_origins ["http://a.example", "http://*.b.example"]\ncors_allow_credentials true\n') + HTTP_JSON_OUT, [
    hreq('/app/c?time=1709287200', '{"m":"listed"}', headers=['Origin: http://a.example']),
    hreq('/app/c?time=1709287200', '{"m":"pattern"}', headers=['Origin: http://x.b.example']),
    hreq('/app/c?time=1709287200', '{"m":"no origin"}'),
    hreq('/app/c?time=1709287200', '{"m":"refused"}', headers=['Origin: http://evil.example']),
], env=HE, comment='in_http: CORS origins, patterns, credentials; an unlisted origin is refused and closed')
case('http-cors-preflight', http('cors_allow_origins ["*"]\n') + HTTP_JSON_OUT, [
    hreq('/app/c?time=1709287200', '{"m":"any"}', headers=['Origin: http://z.example']),
    hreq('/app/c', method='OPTIONS', ctype=None, headers=['Origin: http://z.example', 'Access-Control-Request-Method: POST', 'Access-Control-Request-Headers: content-type']),
], env=HE, comment='in_http: the CORS preflight (OPTIONS) with a wildcard origin')
case('http-gzip-deflate', http() + HTTP_JSON_OUT, [
    hreq('/app/z?time=1709287200', 'GZIP:{"m":"gzip"}', headers=['Content-Encoding: gzip']),
    hreq('/app/z?time=1709287200', 'DEFLATE:{"m":"deflate"}', headers=['Content-Encoding: deflate']),
    hreq('/app/z?time=1709287200', 'not gzip at all', headers=['Content-Encoding: gzip']),
], env=HE, comment='in_http: Content-Encoding gzip and deflate; a body that does not inflate is 400 and closed')
case('http-chunked', http() + HTTP_JSON_OUT, [
    hreq('/app/ch?time=1709287200', '{"m":"a chunked body, in pieces of seven"}', chunked=True),
    hreq('/app/ch?time=1709287200', '{"m":"after it"}', close=True),
], env=HE, comment='in_http: Transfer-Encoding chunked')
case('http-parse-none', http(parse='@type none\n') + HTTP_JSON_OUT, [
    hreq('/app/t?time=1709287200', 'plain text body', ctype='text/plain'),
    hreq('/app/t?time=1709287200', '{"m":"json is text here"}', close=True),
], env=HE, comment='in_http with <parse> @type none: the body is the message')
case('http-parse-regexp', http(parse='@type regexp\nexpression /^(?<k>\\w+)=(?<v>\\w+)$/\n') + HTTP_JSON_OUT, [
    hreq('/app/r?time=1709287200', 'key=value', ctype='text/plain'),
    hreq('/app/r?time=1709287200', 'does not match', ctype='text/plain'),
    hreq('/app/r?time=1709287200', 'k2=v2', ctype='text/plain', close=True),
], env=HE, comment='in_http with <parse> @type regexp: a body that does not match is skipped (200)')
case('http-keep-time-key', http(parse='@type in_http\nkeep_time_key true\n') + HTTP_OUT, [
    hreq('/app/k', f'{{"time":{T0},"m":"kept"}}', close=True),
], env=HE, comment='in_http: keep_time_key')
case('http-body-too-large', http('body_size_limit 64\n') + HTTP_JSON_OUT, [
    hreq('/app/s?time=1709287200', '{"m":"small"}'),
    hreq('/app/s?time=1709287200', '{"m":"' + 'x' * 100 + '"}'),
], env=HE, comment='in_http: a body over body_size_limit is 413 and the connection closes')
case('http-get', http() + HTTP_JSON_OUT, [
    hreq('/app/g?time=1709287200', '{"m":"before the get"}'),
    hreq('/app/g?json=%7B%22m%22%3A1%7D', method='GET', ctype=None),
], env=HE, comment='in_http: GET is a health check: 200, nothing emitted, connection closed')


def dsurl(host):
    return ("\"#{ENV['NOPE_URL'] || (host = ENV.fetch('NOPE_HOST', '" + host + "'); port = ENV.fetch('NOPE_PORT', '443'); "
            "host = (IPAddr.new(host).ipv6? ? '[' + host + ']' : host rescue host); 'https://' + host + ':' + port + '/api')}\"")


case('config-embedded-ruby-daemonset', rt(f'v4 {dsurl("10.96.0.1")}\nv6 {dsurl("fd00::1")}\nname {dsurl("kubernetes.default.svc")}\n'
                                          "tern \"#{ENV['NOPE'] ? 'set' : 'unset'}\"\nfetch \"#{ENV.fetch('NOPE') rescue 'rescued'}\"\n"), RT_IN[:1],
     comment="the official Kubernetes DaemonSet's embedded Ruby: assignments, a ternary, rescue, IPAddr.new(host).ipv6?")
case('http-json-invalid', http() + HTTP_JSON_OUT, [
    hreq('/app/j?time=1709287200', '{"m":'),
    hreq('/app/j?time=1709287200', '{"m":"after it"}', close=True),
], env=HE, comment='in_http: a JSON body that does not parse')
case('http-parse-json-array', http(parse='@type json\n') + HTTP_OUT, [
    hreq('/app/pj', f'[{{"time":{T0},"m":"first"}},"x",{{"time":{T0 + 1},"m":"second"}}]', close=True),
], env=HE, comment='in_http with <parse> @type json: an array body is one record per object')
case('json-array-line', tail('@type json\n') + out(), [f'[{{"time":{T0},"m":"a"}},{{"time":{T0 + 1},"m":"b"}}]', f'{{"time":{T0 + 2},"m":"c"}}'],
     comment='the json parser: a line that is an array gives one record per object')
case('http-time-format', http(parse='@type in_http\ntime_format %Y-%m-%dT%H:%M:%S%z\n') + HTTP_OUT, [
    hreq('/app/tf', '{"time":"2024-03-01T19:00:00+0900","m":"a zoned text time"}'),
    hreq('/app/tf', '[{"time":"2024-03-01T10:00:01+0000","m":"in an array"}]', close=True),
], env=HE, comment='in_http: <parse> @type in_http with time_format reads the record time with it')
case('http-time-type-unixtime', http(parse='@type in_http\ntime_type unixtime\n') + HTTP_OUT, [
    hreq('/app/tu', '{"time":"1709287200","m":"a text unixtime"}', close=True),
], env=HE, comment='in_http: <parse> @type in_http with time_type unixtime')
MP = ('--XyZ\r\nContent-Disposition: form-data; name="json"\r\n\r\n{"m":"from a multipart form"}\r\n'
      '--XyZ\r\nContent-Disposition: form-data; name="time"\r\n\r\n1709287200\r\n--XyZ--\r\n')
case('http-multipart', http() + HTTP_OUT, [
    hreq('/app/mp', MP, ctype='multipart/form-data; boundary=XyZ', close=True),
], env=HE, comment='in_http: a multipart/form-data body with json and time fields')

def packb(v):
    """MessagePack of the few types the cases use (no dependency to install)."""
    import struct
    if isinstance(v, bool):
        return b'\xc3' if v else b'\xc2'
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b'\xce' + struct.pack('>I', v)
    if isinstance(v, float):
        return b'\xcb' + struct.pack('>d', v)
    if isinstance(v, bytes):
        return b'\xc4' + bytes([len(v)]) + v
    if isinstance(v, str):
        b = v.encode()
        return bytes([0xa0 | len(b)]) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b''.join(packb(x) for x in v)
    return bytes([0x80 | len(v)]) + b''.join(packb(k) + packb(x) for k, x in v.items())


def http_body(request):
    """Fills the placeholders of binary bodies (MessagePack, gzip, deflate)."""
    import gzip, zlib
    mp = {b'MSGPACK1': packb({'time': T0, 'm': 'a map'}),
          b'MSGPACK2': packb([{'time': T0 + 1, 'm': 'in an array'}, 7]) +
                       packb({'time': T0 + 2.5, 'm': 'a second object', 'b': b'\x00\x01'})}
    head, _, body = request.partition(b'\r\n\r\n')
    if body in mp:
        body = mp[body]
    elif body.startswith(b'GZIP:'):
        body = gzip.compress(body[5:], mtime=0)
    elif body.startswith(b'DEFLATE:'):
        body = zlib.compress(body[8:])
    else:
        return request
    head = b'\r\n'.join(l if not l.startswith(b'Content-Length:') else b'Content-Length: %d' % len(body)
                        for l in head.split(b'\r\n'))
    return head + b'\r\n\r\n' + body


def write():
    names = {f'{n:03d}-{c[0]}' for n, c in enumerate(CASES, start=101)}
    for d in os.listdir(HERE):
        if d[:3].isdigit() and int(d[:3]) >= 101 and d not in names:
            shutil.rmtree(os.path.join(HERE, d))
    for n, (name, conf, lines, env, comment, refused, files) in enumerate(CASES, start=101):
        d = os.path.join(HERE, f'{n:03d}-{name}')
        os.makedirs(d, exist_ok=True)
        text = (f'# {comment}\n' if comment else '') + conf
        open(os.path.join(d, 'fluent.conf'), 'w').write(text)
        feed = env.get('FEED', 'tail')
        if feed == 'http':
            data = b''.join(http_body(l) for l in lines)
        else:
            data = ''.join(l + '\n' for l in lines)
        if feed == 'tcp':
            data = data[:-1] if lines and lines[-1] != '' else data[:-1]
        for stale in ('input', 'input.log', 'case.env', 'expect-refused'):
            if os.path.exists(os.path.join(d, stale)):
                os.remove(os.path.join(d, stale))
        open(os.path.join(d, 'input.log' if feed == 'tail' else 'input'), 'wb' if feed == 'http' else 'w').write(data)
        envs = {k: v for k, v in env.items() if k != 'POS'}
        if envs:
            open(os.path.join(d, 'case.env'), 'w').write(''.join(f'{k}={v}\n' for k, v in envs.items()))
        if env.get('POS') and not os.path.exists(os.path.join(d, 'expected.pos')):
            open(os.path.join(d, 'expected.pos'), 'w').write('')
        if refused is not None:
            open(os.path.join(d, 'expect-refused'), 'w').write(refused + '\n')
    print(len(CASES), 'cases')


if __name__ == '__main__':
    write()
