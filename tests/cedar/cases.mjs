// Hand-written differential cases: one or more per language feature and edge
// case of the Cedar reference.  Conditions run as
// `permit(principal, action, resource) when { EXPR };` against the requests
// of world.mjs; policy sets test scopes, effects and decisions; parse cases
// test acceptance of valid and invalid texts.
import { entities, requests, uid } from './world.mjs';

export const exprs = [
  // literals, equality
  'true', 'false', '1 == 1', '1 == 2', '"a" == "a"', '"a" != "b"', '1 == "1"', 'true == 1',
  '[1,2] == [2,1]', '[1,1,2] == [1,2]', '[] == []', '{} == {}', '{a:1} == {a:1}', '{a:1} == {a:1,b:2}',
  '{a:1,b:[1,2]} == {b:[2,1],a:1}', 'User::"alice" == User::"alice"', 'User::"alice" == Group::"alice"',
  'principal == User::"alice"', 'principal != User::"alice"', 'action == Action::"view"',
  '-9223372036854775808 < 0', '9223372036854775807 > 0', '01 == 1', '0 == -0',
  // arithmetic and overflow
  '1 + 2 == 3', '2 - 5 == -3', '3 * 4 == 12', '-3 * -4 == 12', '9223372036854775807 + 1 > 0',
  '-9223372036854775807 - 2 < 0', '4611686018427387904 * 2 > 0', '-(-9223372036854775807 - 1) > 0',
  '- -5 == 5', '--5 == 5', '---5 == -5', '1 + "a" == 2', '"a" + "b" == "ab"', 'principal.big + 1 > 0',
  'principal.big * 1024 > 0', 'principal.big * 1048576 * 1048576 > 0', 'context.n * context.n == 25', '1 - 2 - 3 == -4',
  '2 + 3 * 4 == 14', '(2 + 3) * 4 == 20', 'principal.age * 0 == 0', '-context.n == -5',
  // comparisons
  '1 < 2', '2 <= 2', '3 > 4', '4 >= 4', '"a" < "b"', 'true < false', 'principal.age > 18',
  'principal.age >= 30 && principal.age <= 30', 'context.n < principal.age', 'decimal("1.0") < decimal("2.0")',
  // boolean logic and short circuit
  'true && true', 'true && false', 'false || true', 'false || false', 'false && (1 + "a")',
  'true || (1 + "a")', 'true && (1 + "a" == 1)', 'false || 1', 'true && 1', '1 && true', '!true', '!!true',
  '!!!!true', '!1', '!(1 == 2)', 'false && principal.nope', 'true || principal.nope',
  'principal has nope && principal.nope', 'principal has name && principal.name == "alice"',
  // if-then-else
  'if true then true else false', 'if false then true else 1 == 1', 'if 1 then true else true',
  'if principal.age > 40 then false else true', 'if true then 1 == 1 else 1 + "a"',
  'if false then 1 + "a" else true', '(if true then 1 else 2) == 1', 'if true then 1 else 2',
  'if context.flag then context.n == 5 else false', 'if principal has age then principal.age > 0 else false',
  // in / hierarchy
  'principal in Group::"eng"', 'principal in Group::"all"', 'principal in Group::"mgrs"',
  'principal in principal', 'principal in User::"alice"', 'resource in Folder::"root"', 'resource in Folder::"f1"',
  'action in Action::"read"', 'action in [Action::"read", Action::"write"]', 'action in []',
  'principal in [Group::"mgrs", Group::"eng"]', 'principal in [Group::"mgrs"]', 'principal in 1',
  'principal in [Group::"eng", 1]', '1 in Group::"eng"', 'User::"ghost" in Group::"all"',
  'Group::"eng" in Group::"all"', 'Group::"all" in Group::"eng"', 'NS::Sub::Thing::"t" in Group::"all"',
  'principal in principal.groups', 'principal in context.set', 'resource.owner in Group::"eng"',
  'principal in resource.readers', 'context.who in Group::"eng"', 'principal in {a: 1}',
  // has, attribute access, records
  'principal has name', 'principal has "name"', 'principal has nope', 'principal has profile.dept',
  'principal has profile.nested.x', 'principal has profile.nope.x', 'principal has profile.nested.nope',
  'principal has age.x', 'principal.name == "alice"', 'principal.nope == 1', 'principal["name"] == "alice"',
  'principal.profile.dept == "eng"', 'principal.profile["nested"]["a b"] == "sp"', 'principal[""] == "emptykey"',
  'principal has ""', 'principal["if"] == 1', 'principal has "if"', 'context.rec.a == 1', 'context.rec.b.c == "d"',
  'context.rec.z == 1', 'context has rec', 'context has "a b"', 'context["a b"] == 1', 'context.n.x == 1',
  'context has n.x', '1 has x', '"s" has x', 'User::"ghost" has name', 'User::"ghost".name == "x"',
  'principal.manager.name == "bob"', 'principal.manager.manager == 1', 'resource.owner == principal',
  'resource.owner.profile.level > 2', '{a: {b: 1}}.a.b == 1', '{a: 1}.b == 1', '{a: 1} has a', '{"x y": 1} has "x y"',
  'Group::"all".name == "x"', 'Group::"all" has name', 'context.who.name == "carol"', 'context.who has name',
  // like
  '"abc" like "abc"', '"abc" like "a*"', '"abc" like "*c"', '"abc" like "*b*"', '"abc" like "a*b*c"',
  '"abc" like "*"', '"" like "*"', '"" like ""', '"abc" like "ab"', '"a*c" like "a\\*c"', '"abc" like "a\\*c"',
  '"aaa" like "a*a*a*a"', '"aaaa" like "a*a*a*a"', 'principal.name like "al*"', 'context.s like "h*o"',
  '1 like "1"', '"line\\nbreak" like "line*"', '"tab\\t" like "tab\\t"', '"quote\\"" like "*\\""',
  '"\\u{1F600}x" like "*x"', '"\\u{e9}" == "é"', '"é" like "?"', '"ab" like "a**b"',
  // is
  'principal is User', 'principal is Group', 'resource is Doc', 'action is Action', '1 is User',
  'principal is User in Group::"eng"', 'principal is User in Group::"mgrs"', 'principal is Group in (1 + "a")',
  'principal is User in (1 + "a")', 'principal is User in [Group::"mgrs", Group::"all"]', 'NS::Sub::Thing::"t" is NS::Sub::Thing',
  'context.who is User', 'principal.manager is User',
  // sets and methods
  '[1,2,3].contains(2)', '[1,2,3].contains(4)', '[].contains(1)', '[[1],[2]].contains([1])', '[{a:1}].contains({a:1})',
  '[1,2,3].containsAll([1,3])', '[1,2,3].containsAll([1,4])', '[1].containsAll([])', '[1,2].containsAny([3,2])',
  '[1,2].containsAny([])', '[1,2].containsAny([3])', '[].isEmpty()', '[1].isEmpty()', 'principal.empty.isEmpty()',
  'principal.tags.contains("a")', 'context.set.containsAll([1,2])', 'context.strs.containsAny(principal.tags)',
  '1.contains(1)', '[1].containsAll(1)', '[1].containsAny("a")', '"abc".isEmpty()', 'context.set.isEmpty()',
  '[principal, resource].contains(User::"alice")', '[1, "a", true].contains("a")', '[1, [2, 3]] == [[3, 2], 1]',
  'principal.groups.contains(Group::"eng")', '{a: [1,2]}.a.contains(2)', '[1 + 1].contains(2)', '[1 + "a"].isEmpty()',
  '[principal.age, context.n].contains(5)', '{a: principal.age}.a == 30', '{a: principal.nope}.a == 1',
  // tags
  'principal.hasTag("env")', 'principal.hasTag("nope")', 'principal.getTag("env") == "prod"', 'principal.getTag("nope") == 1',
  'principal.getTag("list").contains(2)', 'resource.hasTag("class")', 'resource.getTag("class") == "secret"',
  'User::"ghost".hasTag("env")', 'User::"ghost".getTag("env") == 1', 'principal.hasTag(1)', '"s".hasTag("a")',
  'User::"bob".hasTag("env")', 'principal.hasTag(principal.name)', 'principal.getTag("n") + 1 == 2',
  // ip
  'ip("10.0.0.1").isIpv4()', 'ip("10.0.0.1").isIpv6()', 'ip("::1").isIpv6()', 'ip("127.0.0.1").isLoopback()',
  'ip("::1").isLoopback()', 'ip("::2").isLoopback()', 'ip("224.1.2.3").isMulticast()', 'ip("ff02::1").isMulticast()',
  'ip("10.1.2.3").isInRange(ip("10.0.0.0/8"))', 'ip("11.1.2.3").isInRange(ip("10.0.0.0/8"))',
  'ip("10.0.0.0/8").isInRange(ip("10.0.0.0/16"))', 'ip("10.0.0.0/16").isInRange(ip("10.0.0.0/8"))',
  'ip("10.0.0.1") == ip("10.0.0.1/32")', 'ip("10.0.0.1/24") == ip("10.0.0.0/24")', 'ip("::") == ip("0:0::0")',
  'ip("1.2.3.4/33").isIpv4()', 'ip("1.2.3.256").isIpv4()', 'ip("01.2.3.4").isIpv4()', 'ip("1.2.3").isIpv4()',
  'ip("::ffff:1.2.3.4").isIpv6()', 'ip("1:2:3:4:5:6:7:8").isIpv6()', 'ip("1:2:3:4:5:6:7:8:9").isIpv6()',
  'ip("1::2::3").isIpv6()', 'ip("fe80::/10").isIpv6()', 'ip("2001:db8::1").isInRange(ip("2001:db8::/32"))',
  'ip("2001:db8::1").isInRange(ip("10.0.0.0/8"))', 'ip(1).isIpv4()', 'ip("x").isIpv4()', 'ip("1.2.3.4", "x").isIpv4()',
  'ip("1.2.3.4").isIpv4(1)', '"1.2.3.4".isIpv4()', 'principal.addr.isInRange(ip("10.0.0.0/8"))',
  'context.ip.isInRange(ip("192.168.0.0/16"))', 'context.ip6.isIpv6()', 'ip("127.0.0.1/7").isLoopback()',
  'ip("127.0.0.1/8").isLoopback()', 'ip("224.0.0.0/3").isMulticast()', 'ip("224.0.0.0/4").isMulticast()',
  'ip("::1/64").isLoopback()', 'ip("1.2.3.4/08").isIpv4()', 'ip("1.2.3.4/0").isInRange(ip("::/0"))',
  'ip("0.0.0.0/0").isInRange(ip("0.0.0.0/0"))', 'ip("10.0.0.1") == "10.0.0.1"', 'ip(context.s).isIpv4()',
  'ip("1.2.3.4").isInRange(1)', 'ip(" 1.2.3.4").isIpv4()', 'ip("::1/129").isIpv6()', 'ip("ABCD::ef").isIpv6()',
  // decimal
  'decimal("1.5") == decimal("1.50")', 'decimal("1.5").lessThan(decimal("2.0"))', 'decimal("1.5").greaterThan(decimal("2.0"))',
  'decimal("1.5").lessThanOrEqual(decimal("1.5"))', 'decimal("-1.5").greaterThanOrEqual(decimal("-1.5001"))',
  'decimal("1.23456") == decimal("1.2")', 'decimal("1") == decimal("1.0")', 'decimal("1.") == decimal("1.0")',
  'decimal(".5") == decimal("0.5")', 'decimal("-0.0") == decimal("0.0")', 'decimal("922337203685477.5807").greaterThan(decimal("0.0"))',
  'decimal("922337203685477.5808").greaterThan(decimal("0.0"))', 'decimal("-922337203685477.5808").lessThan(decimal("0.0"))',
  'decimal("-922337203685477.5809").lessThan(decimal("0.0"))', 'principal.score.lessThan(decimal("2.0"))',
  'context.amount == decimal("12.34")', 'decimal("1.0").lessThan(1)', 'decimal(1) == decimal("1.0")', 'decimal("1.0") == 1',
  'decimal("+1.0") == decimal("1.0")', 'decimal("1.0").lessThan(decimal("1.0"), 1)', 'decimal("1.0").isIpv4()',
  // datetime / duration
  'datetime("2024-01-01") < datetime("2024-01-02")', 'datetime("2024-01-01T10:00:00Z").toDate() == datetime("2024-01-01")',
  'datetime("1969-12-31T10:00:00Z").toDate() == datetime("1969-12-31")', 'datetime("1969-12-31T10:00:00Z").toTime() == duration("10h")',
  'duration("-1d2h") == duration("-26h")', 'duration("1h1d") == duration("25h")', 'duration("-90m").toHours() == -1',
  'duration("90m").toHours() == 1', 'duration("1d").toMilliseconds() == 86400000', 'duration("2m30s").toSeconds() == 150',
  'duration("1ms") < duration("1s")', 'datetime("2024-01-01T10:00:00+0100") == datetime("2024-01-01T09:00:00Z")',
  'datetime("2024-01-01T10:00:00.123Z") > datetime("2024-01-01T10:00:00Z")', 'datetime("2024-01-01T10:00:00.5Z") == datetime("2024-01-01")',
  'datetime("2024-02-30") == datetime("2024-03-01")', 'datetime("2024-02-29") < datetime("2024-03-01")', 'datetime("2023-02-29") < datetime("2024-03-01")',
  'datetime("2024-01-01").offset(duration("1d")) == datetime("2024-01-02")', 'datetime("2024-01-02").durationSince(datetime("2024-01-01")) == duration("24h")',
  'principal.joined < context.when', 'principal.ttl.toMinutes() == 90', 'context.when.toDate() == context.when', 'datetime("2024-01-01") < 1',
  'duration("1h") < datetime("2024-01-01")', 'duration("") == duration("0ms")', 'duration("1x") == duration("1s")', 'duration("1d").toDays() == 1',
  'datetime("2024-1-01") == datetime("2024-01-01")', 'datetime("2024-01-01T25:00:00Z") < datetime("2024-01-02")',
  'datetime("2024-01-01T10:00:00+2500") < datetime("2024-01-02")', 'duration("9223372036854775807ms") > duration("1ms")',
  'duration("9223372036854775807d") > duration("1ms")', 'datetime("2024-01-01").offset(duration("9223372036854775807ms")) > datetime("2024-01-01")',
  // strings and escapes
  '"a\\"b" == "a\\"b"', '"\\\\" == "\\\\"', '"\\n" != "n"', '"\\0" != ""', '"\\u{41}" == "A"', '"\\x41" == "A"', '"\'" == "\'"', '"\\\'" == "\'"',
  // precedence and grouping
  '1 + 2 == 3 && 2 * 3 == 6 || false', 'false || true && false', '!false && !false', '(true || false) && false',
  '-1 + 2 == 1', '-(1 + 2) == -3', '!(principal in Group::"eng")', 'context.n + principal.age == 35',
];

function req(i) { return requests[i]; }

export function handCases() {
  const out = [];
  exprs.forEach((e, k) => {
    for (const r of [0, 1]) {
      out.push({ name: `expr#${k} req${r}: ${e}`, policies: `permit(principal, action, resource) when { ${e} };`,
                 entities, request: req(r) });
    }
  });
  // A few expressions also run for unknown principals and namespaced ones.
  exprs.slice(0, 400).filter((_, k) => k % 7 === 0).forEach((e, k) => {
    for (const r of [2, 3]) {
      out.push({ name: `expr7#${k} req${r}: ${e}`, policies: `permit(principal, action, resource) when { ${e} };`,
                 entities, request: req(r) });
    }
  });
  const sets = [
    // scopes
    'permit(principal == User::"alice", action, resource);',
    'permit(principal == User::"bob", action, resource);',
    'permit(principal in Group::"eng", action, resource);',
    'permit(principal in Group::"all", action == Action::"view", resource in Folder::"root");',
    'permit(principal is User, action, resource is Doc);',
    'permit(principal is Group, action, resource);',
    'permit(principal is User in Group::"eng", action, resource is Doc in Folder::"f1");',
    'permit(principal is User in Group::"mgrs", action, resource);',
    'permit(principal, action in Action::"read", resource);',
    'permit(principal, action in [Action::"write", Action::"read"], resource);',
    'permit(principal, action in [], resource);',
    'permit(principal, action == Action::"edit", resource);',
    'permit(principal, action, resource == Doc::"d1");',
    'permit(principal, action, resource in Doc::"d1");',
    'permit(principal, action, resource is NS::Sub::Thing);',
    'permit(principal is NS::Sub::Thing in Group::"all", action, resource);',
    'permit(principal == NS::Sub::Thing::"t", action, resource);',
    'permit(principal, action == Action::"view", resource) when { resource.owner == principal };',
    // effects and decisions
    'permit(principal, action, resource);\nforbid(principal, action, resource);',
    'permit(principal, action, resource);\nforbid(principal == User::"bob", action, resource);',
    'forbid(principal, action, resource);',
    '',
    '// only a comment\n',
    'permit(principal, action, resource) when { 1 + "a" };\nforbid(principal, action, resource) when { principal.nope };\npermit(principal, action, resource);',
    'permit(principal, action, resource) when { principal.nope };\nforbid(principal, action, resource) when { principal.nope2 };',
    'forbid(principal, action, resource) when { principal.nope };\npermit(principal in Group::"all", action, resource);',
    'permit(principal, action, resource) unless { principal in Group::"mgrs" };',
    'permit(principal, action, resource) when { true } unless { false } when { context has n };',
    'permit(principal, action, resource) when { false } when { 1 + "a" };',
    'permit(principal, action, resource) when { true } when { 1 };',
    'permit(principal, action, resource) when { 1 };',
    'permit(principal, action, resource) unless { 1 };',
    '@id("first") @reason permit(principal, action, resource);\n@id("second") forbid(principal, action, resource) unless { principal == User::"alice" };',
    'permit(principal in Group::"eng", action in Action::"read", resource in Folder::"root") when { context.n > 1 && resource.public == false };',
    'permit(principal, action, resource) when { principal.profile.level >= 3 };\npermit(principal, action, resource) when { principal.profile.level < 3 };\nforbid(principal, action, resource) when { principal.active == false };',
    'permit(principal == User::"alice", action == Action::"view", resource == Doc::"d1");\npermit(principal == User::"alice", action == Action::"view", resource == Doc::"d1");',
    'forbid(principal, action, resource) when { context.n == 0 };\npermit(principal, action, resource);\npermit(principal, action, resource) when { context.n == 0 };',
    'permit(principal, action, resource); // comment ends at CR\rforbid(principal, action, resource);',
    'permit(principal, action, resource); // comment\u2028forbid(principal, action, resource);',
    `permit(principal, action, resource) when { ${Array(40).fill('principal has name').join(' && ')} && ${Array(20).fill('1').join(' + ')} == 20 };`,
    `permit(principal, action, resource) when { ${Array(500).fill('false').join(' || ')} || context.n == 5 };`,
  ];
  sets.forEach((p, k) => {
    for (let r = 0; r < requests.length; r++)
      out.push({ name: `set#${k} req${r}`, policies: p, entities, request: req(r) });
  });
  // Entity and request format edge cases.
  const base = 'permit(principal, action, resource) when { principal has a };';
  out.push({ name: 'no entities', policies: base, entities: [], request: req(0) });
  out.push({ name: 'dup entity', policies: base, entities: [entities[0], entities[0]], request: req(0) });
  out.push({ name: 'entity escape uid', policies: 'permit(principal, action, resource) when { principal.m == User::"x" };',
             entities: [{ uid: { __entity: uid('User', 'alice') }, attrs: { m: { __entity: uid('User', 'x') } }, parents: [] }], request: req(0) });
  out.push({ name: 'float attr', policies: base, entities: [{ uid: uid('User', 'alice'), attrs: { a: 1.5 }, parents: [] }], request: req(0) });
  out.push({ name: 'null attr', policies: base, entities: [{ uid: uid('User', 'alice'), attrs: { a: null }, parents: [] }], request: req(0) });
  out.push({ name: 'bad extn', policies: base, entities: [{ uid: uid('User', 'alice'), attrs: { a: { __extn: { fn: 'ip', arg: 'nope' } } }, parents: [] }], request: req(0) });
  out.push({ name: 'cycle', policies: 'permit(principal in Group::"b", action, resource);',
             entities: [{ uid: uid('Group', 'a'), attrs: {}, parents: [uid('Group', 'b')] }, { uid: uid('Group', 'b'), attrs: {}, parents: [uid('Group', 'a')] }],
             request: { ...req(0), principal: uid('Group', 'a') } });
  out.push({ name: 'parent not an entity', policies: 'permit(principal in Group::"zz", action, resource);',
             entities: [{ uid: uid('User', 'alice'), attrs: {}, parents: [uid('Group', 'zz')] }], request: req(0) });
  out.push({ name: 'deep hierarchy', policies: 'permit(principal in G::"g9", action, resource);',
             entities: Array.from({ length: 10 }, (_, i) => ({ uid: uid('G', `g${i}`), attrs: {}, parents: i < 9 ? [uid('G', `g${i + 1}`)] : [] })),
             request: { ...req(0), principal: uid('G', 'g0') } });
  out.push({ name: 'record with entity-like keys', policies: 'permit(principal, action, resource) when { context.r.type == "User" };',
             entities: [], request: { ...req(0), context: { r: { type: 'User', id: 'a' } } } });
  out.push({ name: 'bad type name', policies: base, entities: [{ uid: uid('not a type', 'x'), attrs: {}, parents: [] }], request: req(0) });
  out.push({ name: 'context not record', policies: base, entities: [], request: { ...req(0), context: [] } });
  out.push({ name: 'action attrs', policies: 'permit(principal, action, resource) when { action.level == 2 };',
             entities: [{ uid: uid('Action', 'view'), attrs: { level: 2 }, parents: [] }], request: req(0) });
  // The JSON value format: escapes apply only to exact one-key objects with
  // the escape's fields; attrs and parents are required; names are checked.
  const fmt = (name, x, cond, extra = {}) => out.push({ name: `format: ${name}`,
    policies: `permit(principal, action, resource) when { ${cond} };`,
    entities: [{ uid: uid('User', 'alice'), attrs: { x }, parents: [], ...extra }], request: req(1 - 1) });
  const E = (t, i) => ({ __entity: { type: t, id: i } });
  fmt('entity escape plus key', { ...E('User', 'b'), y: 1 }, 'principal.x.y == 1');
  fmt('entity escape plus key eq', { ...E('User', 'b'), y: 1 }, 'principal.x == User::"b"');
  fmt('entity escape no id', { __entity: { type: 'User' } }, 'principal.x has __entity');
  fmt('entity escape string', { __entity: 'User::"b"' }, 'principal.x == User::"b"');
  fmt('entity escape extra field', { __entity: { type: 'User', id: 'b', z: 1 } }, 'principal.x == User::"b"');
  fmt('entity escape bad type', E('if', 'b'), 'true');
  fmt('entity escape cedar type', E('__cedar::X', 'b'), 'true');
  fmt('entity escape spaced type', E('A :: B', 'b'), 'true');
  fmt('extn fn only', { __extn: { fn: 'decimal' } }, 'principal.x.__extn.fn == "decimal"');
  fmt('extn extra field', { __extn: { fn: 'decimal', arg: '1.0', extra: 1 } }, 'principal.x == decimal("1.0")');
  fmt('extn arg not string', { __extn: { fn: 'decimal', arg: 1 } }, 'true');
  fmt('extn unknown fn', { __extn: { fn: 'nope', arg: 'x' } }, 'true');
  fmt('extn ipaddr', { __extn: { fn: 'ipaddr', arg: '1.2.3.4' } }, 'true');
  fmt('extn bad decimal', { __extn: { fn: 'decimal', arg: 'x' } }, 'true');
  fmt('extn datetime', { __extn: { fn: 'datetime', arg: '2024-01-01' } }, 'principal.x < datetime("2024-01-02")');
  fmt('extn duration', { __extn: { fn: 'duration', arg: '1h' } }, 'principal.x.toMinutes() == 60');
  fmt('extn plus key', { __extn: { fn: 'ip', arg: '1.2.3.4' }, k: 1 }, 'principal.x.k == 1');
  fmt('no attrs', 1, 'true', { attrs: undefined });
  fmt('null attrs', 1, 'true', { attrs: null });
  fmt('null tags', 1, 'true', { tags: null });
  fmt('no parents', 1, 'true', { parents: undefined });
  fmt('attr named __entity', 1, 'principal.__entity == 1', { attrs: { __entity: 1 } });
  fmt('attr named __extn', 1, 'principal has __extn', { attrs: { __extn: { fn: 'ip', arg: '1.2.3.4' } } });
  fmt('extra entity field', 1, 'principal.x == 1', { foo: 1 });
  fmt('extra uid field', 1, 'principal.x == 1', { uid: { type: 'User', id: 'alice', z: 1 } });
  fmt('uid escape', 1, 'principal.x == 1', { uid: E('User', 'alice') });
  fmt('parent escape', 1, 'principal in G::"g"', { parents: [E('G', 'g')] });
  fmt('nested set of records', [{ a: [1, { b: E('User', 'b') }] }], 'principal.x.contains({a: [1, {b: User::"b"}]})');
  out.push({ name: 'context escape plus key', policies: 'permit(principal, action, resource) when { context.x.y == 1 };',
             entities: [], request: { ...req(1), context: { x: { ...E('User', 'b'), y: 1 } } } });
  out.push({ name: 'context key __extn', policies: 'permit(principal, action, resource) when { context has __extn };',
             entities: [], request: { ...req(1), context: { __extn: { fn: 'ip', arg: '1.2.3.4' } } } });
  out.push({ name: 'context key __entity', policies: 'permit(principal, action, resource) when { context.__entity.type == "User" };',
             entities: [], request: { ...req(1), context: { __entity: { type: 'User', id: 'a' } } } });
  out.push({ name: 'principal escape', policies: 'permit(principal == User::"a", action, resource);', entities: [],
             request: { ...req(1), principal: E('User', 'a') } });
  out.push({ name: 'principal reserved type', policies: 'permit(principal, action, resource);', entities: [],
             request: { ...req(1), principal: uid('if', 'a') } });
  out.push({ name: 'tags on missing', policies: 'permit(principal, action, resource) when { principal.hasTag("a") };', entities: [], request: req(0) });
  return out;
}

// Policy texts for parse-acceptance agreement.
export const parseTexts = [
  '', 'permit(principal, action, resource);', 'forbid(principal,action,resource);', 'permit(principal, action, resource)',
  'permit(principal, action);', 'permit(principal);', 'permit();', 'permit(principal, action, resource,);',
  'permit(principal, action, resource, context);', 'permit(resource, action, principal);', 'Permit(principal, action, resource);',
  'allow(principal, action, resource);', 'permit(principal == ?principal, action, resource);', 'permit(principal in ?principal, action, resource);',
  'permit(principal, action, resource == ?resource);', 'permit(principal in [User::"a"], action, resource);',
  'permit(principal, action in [Action::"a", Action::"b"], resource);', 'permit(principal, action in [Action::"a",], resource);',
  'permit(principal, action is Action, resource);', 'permit(principal is User::"a", action, resource);', 'permit(principal is User, action, resource);',
  'permit(principal is A::B, action, resource);', 'permit(principal is User in Group::"g", action, resource);',
  'permit(principal == User, action, resource);', 'permit(principal == "alice", action, resource);', 'permit(principal == User::alice, action, resource);',
  'permit(principal = User::"a", action, resource);', 'permit(principal, action, resource) when { true };',
  'permit(principal, action, resource) when { };', 'permit(principal, action, resource) unless { };', 'permit(principal, action, resource) where { true };',
  'permit(principal, action, resource) when { true } unless { false };', 'permit(principal, action, resource) when true;',
  'permit(principal, action, resource);;', ';', '@id("a") permit(principal, action, resource);', '@id("a") @id("b") permit(principal, action, resource);',
  '@a @b permit(principal, action, resource);', '@a() permit(principal, action, resource);', '@a(b) permit(principal, action, resource);',
  '@if("x") permit(principal, action, resource);', '@"a"("b") permit(principal, action, resource);', '@a("b") ;',
  'permit(principal, action, resource) when { principal.if };', 'permit(principal, action, resource) when { principal.then };',
  'permit(principal, action, resource) when { principal.permit };', 'permit(principal, action, resource) when { principal has in };',
  'permit(principal, action, resource) when { principal has "in" };', 'permit(principal, action, resource) when { {if: 1} has if };',
  'permit(principal, action, resource) when { {"if": 1} has "if" };', 'permit(principal, action, resource) when { if::"a" == principal };',
  'permit(principal, action, resource) when { principal is if };', 'permit(principal, action, resource) when { principal is __cedar };',
  'permit(principal, action, resource) when { __cedar::X::"a" == principal };', 'permit(principal, action, resource) when { X::__cedar::"a" == principal };',
  'permit(principal, action, resource) when { principal.__cedar };', 'permit(principal, action, resource) when { principal has __cedar };',
  'permit(principal, action, resource) when { {__cedar: 1} has a };', 'permit(__cedar::X::"a" == principal, action, resource);',
  'permit(principal == __cedar::X::"a", action, resource);', 'permit(principal, action, resource) when { a };',
  'permit(principal, action, resource) when { 1 < 2 < 3 };', 'permit(principal, action, resource) when { 1 == 1 == 1 };',
  'permit(principal, action, resource) when { principal in Group::"a" in Group::"b" };', 'permit(principal, action, resource) when { 1 / 2 };',
  'permit(principal, action, resource) when { 1 % 2 };', 'permit(principal, action, resource) when { !!!!!true };',
  'permit(principal, action, resource) when { -----1 };', 'permit(principal, action, resource) when { !-1 };',
  'permit(principal, action, resource) when { -!1 };', 'permit(principal, action, resource) when { 9223372036854775808 };',
  'permit(principal, action, resource) when { -9223372036854775808 };', 'permit(principal, action, resource) when { -9223372036854775809 };',
  'permit(principal, action, resource) when { 99999999999999999999999 };', 'permit(principal, action, resource) when { 1.5 };',
  'permit(principal, action, resource) when { "\\q" };', 'permit(principal, action, resource) when { "\\*" };',
  'permit(principal, action, resource) when { "a" like "\\*" };', 'permit(principal, action, resource) when { "a" like "\\q" };',
  'permit(principal, action, resource) when { "\\u{110000}" };', 'permit(principal, action, resource) when { "\\u{D800}" };',
  'permit(principal, action, resource) when { "\\u{}" };', 'permit(principal, action, resource) when { "\\u{1234567}" };',
  'permit(principal, action, resource) when { "\\u1234" };', 'permit(principal, action, resource) when { "unterminated };',
  "permit(principal, action, resource) when { 'a' };", 'permit(principal, action, resource) when { foo(1) };',
  'permit(principal, action, resource) when { a::b(1) };', 'permit(principal, action, resource) when { ip::ip("1.2.3.4") };',
  'permit(principal, action, resource) when { [].foo() };', 'permit(principal, action, resource) when { [].contains() };',
  'permit(principal, action, resource) when { [].contains(1, 2) };', 'permit(principal, action, resource) when { [].isEmpty(1) };',
  'permit(principal, action, resource) when { [].containsAll() };', 'permit(principal, action, resource) when { principal.getTag() };',
  'permit(principal, action, resource) when { principal.hasTag("a", "b") };', 'permit(principal, action, resource) when { ip() };',
  'permit(principal, action, resource) when { ip("a").isIpv4(1, 2) };', 'permit(principal, action, resource) when { decimal("1.0").foo() };',
  'permit(principal, action, resource) when { {a: 1, a: 2} };', 'permit(principal, action, resource) when { {a: 1, "a": 2} };',
  'permit(principal, action, resource) when { {a: 1,} };', 'permit(principal, action, resource) when { {,} };', 'permit(principal, action, resource) when { [,] };',
  'permit(principal, action, resource) when { [1,] };', 'permit(principal, action, resource) when { {1: 2} };', 'permit(principal, action, resource) when { {a = 1} };',
  'permit(principal, action, resource) when { principal has "a".b };', 'permit(principal, action, resource) when { principal has a."b" };',
  'permit(principal, action, resource) when { principal has a.b.c };', 'permit(principal, action, resource) when { principal has a.if };',
  'permit(principal, action, resource) when { principal has x == true };', 'permit(principal, action, resource) when { "a" like "a" == true };',
  'permit(principal, action, resource) when { true == "a" like "a" };', 'permit(principal, action, resource) when { principal is User == true };',
  'permit(principal, action, resource) when { principal is User in Group::"a" in Group::"b" };', 'permit(principal, action, resource) when { principal like principal };',
  'permit(principal, action, resource) when { principal has 1 };', 'permit(principal, action, resource) when { principal[1] };',
  'permit(principal, action, resource) when { principal[a] };', 'permit(principal, action, resource) when { principal."a" };',
  'permit(principal, action, resource) when { principal.1 };', 'permit(principal, action, resource) when { principal.a.b.c() };',
  'permit(principal, action, resource) when { 1 + if true then 1 else 2 };', 'permit(principal, action, resource) when { if true then 1 };',
  'permit(principal, action, resource) when { if true then 1 else 2 else 3 };', 'permit(principal, action, resource) when { if if true then true else false then 1 else 2 };',
  'permit(principal, action, resource) when { !if true then true else false };', 'permit(principal, action, resource) when { (if true then true else false) };',
  'permit(principal, action, resource) when { true && };', 'permit(principal, action, resource) when { && true };', 'permit(principal, action, resource) when { true & true };',
  'permit(principal, action, resource) when { true | true };', 'permit(principal, action, resource) when { true and true };', 'permit(principal, action, resource) when { 1 = 1 };',
  'permit(principal, action, resource) when { 1 === 1 };', 'permit(principal, action, resource) when { 1 <> 1 };', 'permit(principal, action, resource) when { 1 =< 1 };',
  'permit(principal, action, resource) when { (1 };', 'permit(principal, action, resource) when { 1) };', 'permit(principal, action, resource) when { [1 };',
  'permit(principal, action, resource) when { ?principal == principal };', 'permit(principal, action, resource) when { ?foo == principal };',
  'permit(principal, action, resource) when { User::"a" };', 'permit(principal, action, resource) when { User:: "a" };', 'permit(principal, action, resource) when { User :: "a" };',
  'permit(principal, action, resource) when { User::"a"::"b" };', 'permit(principal, action, resource) when { User::a };', 'permit(principal, action, resource) when { ::User::"a" };',
  'permit(principal, action, resource) when { principal in [User::"a", User::"b"] };', 'permit(principal, action, resource) when { context };',
  'permit(principal, action, resource) when { principal } ;', 'permit(principal, action, resource) when { action.principal };',
  'permit(principal, action, resource) // trailing comment', 'permit(principal, action, resource); // c\n// d',
  '/* block */ permit(principal, action, resource);', 'permit(principal, action, resource) when { 1 /* c */ };',
  'permit(principal,action,resource) when {true}', 'permit\n(\nprincipal\n,\naction\n,\nresource\n)\n;',
  'permit(principal, action, resource) when { principal.contains };', 'permit(principal, action, resource) when { principal.isEmpty };',
  'permit(principal, action, resource) when { -1.isEmpty() };', 'permit(principal, action, resource) when { -principal.x };',
  'permit(principal, action, resource) when { -(1).x };', 'permit(principal, action, resource) when { - 1 };',
  'permit(principal, action, resource) when { principal.a(1) };', 'permit(principal, action, resource) when { principal.a() };',
  'permit(principal, action, resource) when { "é" == "\\u{e9}" };', 'permit(principal, action, resource) when { "multi\nline" };',
  'permit(principal, action, resource) when { principal == résumé::"a" };', 'permit(principal, action, resource) when { 0x10 };',
  'permit(principal, action, resource) when { 1e5 };', 'permit(principal, action, resource) when { datetime("x") };',
  'permit(principal, action, resource) when { duration("1h").toHours() };', 'permit(principal, action, resource) when { ipaddr("1.2.3.4") };',
  'permit(principal, action, resource) when { principal.isIpv4() };', 'permit(principal, action, resource) when { 1.isInRange(2, 3, 4) };',
  'permit(principal, action, resource) when { principal in };', 'permit(principal, action, resource) when { principal is };',
  'permit(principal, action, resource) when { principal has };', 'permit(principal, action, resource) when { principal like };',
  'permit(principal, action, resource) when { "a" like 1 };', 'permit(principal, action, resource) when { "a" like principal.x };',
  'permit(principal, action == [Action::"a"], resource);', 'permit(principal, action in Action::"a", resource in [Doc::"a"]);',
  'permit(principal, action == Action::"a", resource is Doc);', 'permit(principal, action, resource is Doc in Folder::"a");',
  'permit(principal, action, resource in Folder::"a" is Doc);', 'permit(principal is User is User, action, resource);',
  'permit(principal, action == User::"x", resource);', 'permit(principal, action in [User::"x"], resource);',
  'permit(principal in User::"x", action, resource) when { true }; forbid(principal, action, resource) unless { false };',
  'permit(principal, action, resource) when { true }; garbage', 'permit(principal, action, resource) when { true }; @a',
  // Unicode white space is white space; comments end at CR or LF; nesting.
  'permit(principal,\u00a0action,\u2003resource);', 'permit(principal,\vaction,\fresource);', 'permit(principal,\u2028action,\u3000resource);\u0085',
  'permit(principal,\u200baction,resource);', 'permit(principal, action, resource) when { principal.\u00e9 };',
  `permit(principal, action, resource) when { ${'('.repeat(40)}true${')'.repeat(40)} };`,
  `permit(principal, action, resource) when { ${Array(3000).fill('true').join(' && ')} };`,
  `permit(principal, action, resource) when { ${Array(3000).fill('false').join(' || ')} || true };`,
  `permit(principal, action, resource) when { ${'['.repeat(30)}1${']'.repeat(30)} == 1 };`,
  `permit(principal, action, resource) when { ${'if true then '.repeat(30)}true${' else false'.repeat(30)} };`,
];

export function parseCases() {
  return parseTexts.map((t, k) => ({ name: `parse#${k}: ${t}`, check: t }));
}
