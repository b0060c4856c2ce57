// Generated differential cases, deterministic (seeded PRNG): random
// expressions over the world of world.mjs, typed and ill-typed, wrapped in
// random policy sets with random scopes and effects; and parse-acceptance
// texts made by mutating valid policies token by token.
import { entities, requests } from './world.mjs';

function rng(seed) {
  let s = seed >>> 0;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

export function generatedCases(n = 1200, seed = 0xCEDA4) {
  const r = rng(seed);
  const pick = a => a[Math.floor(r() * a.length)];
  const ents = ['User::"alice"', 'User::"bob"', 'User::"ghost"', 'Group::"eng"', 'Group::"all"', 'Group::"mgrs"',
                'Doc::"d1"', 'Doc::"d2"', 'Folder::"f1"', 'Folder::"root"', 'Action::"view"', 'Action::"read"',
                'NS::Sub::Thing::"t"', 'principal', 'resource', 'action', 'principal.manager', 'resource.owner', 'context.who'];
  const attrs = ['name', 'age', 'tags', 'manager', 'active', 'profile', 'groups', 'owner', 'public', 'size', 'labels', 'nope', 'addr', 'score'];
  const ctxAttrs = ['n', 'flag', 's', 'set', 'rec', 'ip', 'amount', 'who', 'strs', 'nope'];
  const longs = ['0', '1', '-1', '5', '30', '9223372036854775807', '-9223372036854775808', '4611686018427387904', 'context.n', 'principal.age', 'resource.size', 'principal.big'];
  const strs = ['"alice"', '"bob"', '""', '"a"', '"eng"', 'principal.name', 'context.s', 'principal.profile.dept'];
  function gen(ty, d) {
    // Occasionally produce a value of the wrong type (ill-typed expressions).
    if (r() < 0.07) ty = pick(['bool', 'long', 'str', 'ent', 'set', 'rec', 'any']);
    if (d <= 0) {
      switch (ty) {
        case 'bool': return pick(['true', 'false', 'context.flag', 'principal.active', 'resource.public']);
        case 'long': return pick(longs);
        case 'str': return pick(strs);
        case 'ent': return pick(ents);
        case 'set': return pick(['[]', '[1, 2]', 'principal.tags', 'context.set', 'resource.labels', '[Group::"eng"]', 'principal.groups', 'context.strs']);
        case 'rec': return pick(['{}', '{a: 1}', 'context.rec', 'principal.profile', 'context']);
        default: return gen(pick(['bool', 'long', 'str', 'ent', 'set', 'rec']), 0);
      }
    }
    const g = t => gen(t, d - 1 - Math.floor(r() * 2));
    switch (ty) {
      case 'bool': return pick([
        () => `${g('bool')} && ${g('bool')}`, () => `${g('bool')} || ${g('bool')}`, () => `!${g('bool')}`,
        () => `(${g('bool')})`, () => `${g('long')} ${pick(['<', '<=', '>', '>='])} ${g('long')}`,
        () => `${g('any')} ${pick(['==', '!='])} ${g('any')}`, () => `${g('ent')} in ${g('ent')}`,
        () => `${g('ent')} in [${g('ent')}, ${g('ent')}]`, () => `${g('ent')} in ${g('set')}`,
        () => `${g('ent')} has ${pick(attrs)}`, () => `${g('rec')} has ${pick(['a', 'n', 'dept', 'b', 'level'])}`,
        () => `${g('str')} like "${pick(['*', 'a*', '*e*', 'al*e', 'bob', ''])}"`, () => `${g('ent')} is ${pick(['User', 'Group', 'Doc', 'NS::Sub::Thing'])}`,
        () => `${g('ent')} is User in ${g('ent')}`, () => `${g('set')}.contains(${g('any')})`,
        () => `${g('set')}.${pick(['containsAll', 'containsAny'])}(${g('set')})`, () => `${g('set')}.isEmpty()`,
        () => `(if ${g('bool')} then ${g('bool')} else ${g('bool')})`, () => `${g('ent')}.hasTag(${g('str')})`,
        () => `principal.${pick(attrs)} == ${g('any')}`, () => `context.${pick(ctxAttrs)} == ${g('any')}`,
        () => `ip("${pick(['10.0.0.1', '127.0.0.1', '::1', '10.0.0.0/8', 'bad'])}").${pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'])}()`,
        () => `context.ip.isInRange(ip("${pick(['192.168.0.0/16', '10.0.0.0/8', '::/0'])}"))`,
        () => `decimal("${pick(['1.5', '-2.25', '0.0001', 'x'])}").${pick(['lessThan', 'greaterThan', 'lessThanOrEqual'])}(${pick(['context.amount', 'principal.score', 'decimal("1.5")', '1'])})`,
      ])();
      case 'long': return pick([
        () => `${g('long')} + ${g('long')}`, () => `${g('long')} - ${g('long')}`, () => `${g('long')} * ${g('long')}`,
        () => `-${g('long')}`, () => `(${g('long')})`, () => `(if ${g('bool')} then ${g('long')} else ${g('long')})`,
        () => `principal.profile.level`, () => `${g('ent')}.${pick(['age', 'size'])}`, () => `principal.getTag("n")`,
      ])();
      case 'str': return pick([() => `${g('ent')}.name`, () => `(if ${g('bool')} then ${g('str')} else ${g('str')})`, () => `resource.getTag("class")`])();
      case 'ent': return pick([() => `${g('ent')}.${pick(['manager', 'owner'])}`, () => `(if ${g('bool')} then ${g('ent')} else ${g('ent')})`, () => gen('ent', 0)])();
      case 'set': return pick([() => `[${g('any')}, ${g('any')}]`, () => `[${g('long')}]`, () => `${g('ent')}.${pick(['tags', 'labels', 'groups'])}`])();
      case 'rec': return pick([() => `{a: ${g('any')}, b: ${g('any')}}`, () => `${g('ent')}.profile`, () => `{"n": ${g('long')}}`])();
      default: return g(pick(['bool', 'long', 'str', 'ent', 'set', 'rec']));
    }
  }
  const scopeP = () => pick(['principal', 'principal', 'principal == User::"alice"', 'principal in Group::"eng"', 'principal is User',
                             'principal is User in Group::"all"', 'principal == User::"bob"', 'principal in Group::"mgrs"']);
  const scopeA = () => pick(['action', 'action', 'action == Action::"view"', 'action in Action::"read"', 'action in [Action::"edit", Action::"view"]']);
  const scopeR = () => pick(['resource', 'resource', 'resource in Folder::"root"', 'resource == Doc::"d1"', 'resource is Doc', 'resource is Folder']);
  const out = [];
  for (let i = 0; i < n; i++) {
    const np = 1 + Math.floor(r() * 4);
    const pols = [];
    for (let k = 0; k < np; k++) {
      const conds = [];
      const nc = Math.floor(r() * 3);
      for (let c = 0; c < nc; c++) conds.push(` ${pick(['when', 'when', 'unless'])} { ${gen('bool', 1 + Math.floor(r() * 3))} }`);
      pols.push(`${r() < 0.25 ? 'forbid' : 'permit'}(${scopeP()}, ${scopeA()}, ${scopeR()})${conds.join('')};`);
    }
    out.push({ name: `gen#${i}`, policies: pols.join('\n'), entities, request: pick(requests) });
  }
  return out;
}

export function generatedParseCases(n = 400, seed = 0x5EED) {
  const r = rng(seed);
  const pick = a => a[Math.floor(r() * a.length)];
  const base = generatedCases(200, seed).map(c => c.policies);
  const junk = ['(', ')', '[', ']', '{', '}', ',', ';', '.', '::', '==', 'in', 'is', 'has', 'like', '&&', '||', '!', '-', '+', '*',
                '"x"', '1', 'principal', 'if', 'then', 'else', 'true', '@a', '?principal', 'User::"a"', 'when', 'unless', ':'];
  const out = [];
  for (let i = 0; i < n; i++) {
    const text = pick(base);
    const toks = text.match(/"(?:\\.|[^"\\])*"|[A-Za-z_][A-Za-z_0-9]*|\d+|::|==|!=|<=|>=|&&|\|\||\S/g) ?? [];
    const m = Math.floor(r() * 3);
    for (let k = 0; k < m + 1 && toks.length; k++) {
      const at = Math.floor(r() * toks.length);
      const op = r();
      if (op < 0.4) toks.splice(at, 1);
      else if (op < 0.8) toks.splice(at, 0, pick(junk));
      else toks[at] = pick(junk);
    }
    out.push({ name: `genparse#${i}`, check: r() < 0.2 ? text : toks.join(' ') });
  }
  return out;
}

// Extension-constructor strings built from plausible and broken pieces: each
// case holds ten policies, one literal each, so the erroring-policy list
// checks ten parses and the decision checks the methods.
export function generatedExtCases(n = 240, seed = 0xE47) {
  const r = rng(seed);
  const pick = a => a[Math.floor(r() * a.length)];
  const num = () => pick(['0', '1', '9', '10', '127', '255', '256', '01', '00', '999', '65535', '4294967296', '']);
  const hex = () => pick(['0', '1', 'ff', 'FFFF', 'db8', '2001', 'abcd', '12345', 'g', '', 'fe80']);
  const ip4 = () => [num(), num(), num(), num()].slice(0, pick([3, 4, 4, 4, 5])).join('.');
  const ip6 = () => {
    const k = pick([1, 2, 3, 7, 8, 9]);
    const g = Array.from({ length: k }, hex);
    if (r() < 0.6) g.splice(Math.floor(r() * (g.length + 1)), 0, '');
    let s = g.join(':');
    if (r() < 0.2) s = '::' + s;
    return s;
  };
  const prefix = () => r() < 0.5 ? '' : '/' + pick(['0', '8', '16', '24', '32', '33', '64', '128', '129', '08', '', 'x']);
  const dec = () => `${pick(['', '-', '+', '--'])}${pick(['0', '1', '12', '922337203685477', '922337203685478', '00', ''])}${pick(['.', '', '..', ','])}${pick(['0', '5', '25', '1234', '12345', '5808', '5807', ''])}`;
  const dt = () => {
    const d = `${pick(['2024', '1969', '0000', '9999', '24', '20245'])}-${pick(['01', '02', '12', '13', '1', '00'])}-${pick(['01', '28', '29', '30', '31', '32', '1'])}`;
    if (r() < 0.3) return d;
    const t = `T${pick(['00', '10', '23', '24'])}:${pick(['00', '59', '60'])}:${pick(['00', '59', '60'])}`;
    const ms = pick(['', '', '.123', '.5', '.1234', '.000']);
    const tz = pick(['Z', 'Z', '+0100', '-0530', '+2359', '+2400', '+0160', '', 'z', '+01:00']);
    return d + t + ms + tz;
  };
  const dur = () => {
    const units = ['d', 'h', 'm', 's', 'ms'];
    let s = r() < 0.2 ? '-' : '';
    const k = Math.floor(r() * 4);
    for (let i = 0; i < k; i++) s += pick(['0', '1', '15', '90', '9223372036854775807', '']) + pick(units);
    if (r() < 0.1) s += pick(['x', '1', ' ', 'm']);
    return s;
  };
  const out = [];
  for (let i = 0; i < n; i++) {
    const pols = [];
    for (let k = 0; k < 10; k++) {
      const which = pick(['ip4', 'ip6', 'dec', 'dt', 'dur']);
      let e;
      if (which === 'ip4' || which === 'ip6') {
        const s = (which === 'ip4' ? ip4() : ip6()) + prefix();
        e = `ip("${s}").${pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'])}() || ip("${s}").isInRange(ip("${pick(['10.0.0.0/8', '0.0.0.0/0', '::/0', '2001:db8::/32', '127.0.0.0/8'])}"))`;
      } else if (which === 'dec') {
        e = `decimal("${dec()}").${pick(['lessThan', 'greaterThanOrEqual'])}(decimal("${pick(['0.0', '1.5', '-1.0'])}"))`;
      } else if (which === 'dt') {
        e = `datetime("${dt()}") ${pick(['<', '>=', '=='])} datetime("${pick(['2024-01-01', '1970-01-01T00:00:00Z'])}")`;
      } else {
        e = `duration("${dur()}") ${pick(['<', '>='])} duration("${pick(['1h', '0ms', '-1d'])}")`;
      }
      pols.push(`permit(principal, action, resource) when { ${e} };`);
    }
    out.push({ name: `genext#${i}`, policies: pols.join('\n'), entities: [], request: requests[1] });
  }
  return out;
}

// Random worlds for the scope index: a random hierarchy (a DAG over a few
// types, some uids only named as parents), policy sets of 5-60 policies whose
// scopes draw ==, in, is, is-in and action lists from that world, and
// requests for entities inside, outside and unknown to the data.
export function generatedWorldCases(n = 300, seed = 0x1DE4) {
  const r = rng(seed);
  const pick = a => a[Math.floor(r() * a.length)];
  const types = ['User', 'Group', 'Org', 'Doc', 'Folder', 'NS::Res'];
  const out = [];
  for (let c = 0; c < n; c++) {
    const ne = 6 + Math.floor(r() * 30);
    const uids = [];
    for (let i = 0; i < ne; i++) uids.push({ type: pick(types), id: `e${i}` });
    const acts = ['read', 'write', 'admin', 'list'].map(id => ({ type: 'Action', id }));
    const entities = uids.map((u, i) => ({
      uid: u, attrs: { level: Math.floor(r() * 5), tag: pick(['a', 'b']) },
      // parents only point to later entities, so the graph is acyclic
      parents: Array.from({ length: Math.floor(r() * 3) }, () => i + 1 < ne ? uids[i + 1 + Math.floor(r() * (ne - i - 1))] : null)
        .filter(Boolean).filter((p, k, a) => a.findIndex(q => q.id === p.id) === k)
        .concat(r() < 0.1 ? [{ type: 'Ghost', id: `g${i}` }] : []),
    }));
    entities.push({ uid: acts[0], attrs: {}, parents: [acts[3]] }, { uid: acts[1], attrs: {}, parents: [acts[2]] });
    const lit = u => `${u.type}::"${u.id}"`;
    const anyUid = () => r() < 0.1 ? { type: pick(types), id: 'nobody' } : pick(uids);
    const slot = (v) => {
      const k = r();
      if (k < 0.25) return v;
      if (k < 0.45) return `${v} == ${lit(anyUid())}`;
      if (k < 0.7) return `${v} in ${lit(anyUid())}`;
      if (k < 0.85) return `${v} is ${pick(types)}`;
      return `${v} is ${pick(types)} in ${lit(anyUid())}`;
    };
    const act = () => {
      const k = r();
      if (k < 0.4) return 'action';
      if (k < 0.6) return `action == ${lit(pick(acts))}`;
      if (k < 0.8) return `action in ${lit(pick(acts))}`;
      return `action in [${Array.from({ length: Math.floor(r() * 3) }, () => lit(pick(acts))).join(', ')}]`;
    };
    const np = 5 + Math.floor(r() * 56);
    const pols = [];
    for (let i = 0; i < np; i++) {
      const cond = r() < 0.3 ? ` when { ${pick(['principal.level > 2', 'resource.tag == "a"', 'principal in resource', 'resource has level', 'principal.level + resource.level > 4', 'context.k'])} }` : '';
      pols.push(`${r() < 0.15 ? 'forbid' : 'permit'}(${slot('principal')}, ${act()}, ${slot('resource')})${cond};`);
    }
    for (let q = 0; q < 3; q++) {
      out.push({ name: `world#${c}.${q}`, policies: pols.join('\n'), entities,
                 request: { principal: anyUid(), action: pick(acts), resource: anyUid(), context: { k: r() < 0.5 } } });
    }
  }
  return out;
}

// like patterns against strings over a small alphabet, with escaped stars.
export function generatedLikeCases(n = 150, seed = 0x11CE) {
  const r = rng(seed);
  const pick = a => a[Math.floor(r() * a.length)];
  const out = [];
  for (let c = 0; c < n; c++) {
    const pols = [];
    for (let k = 0; k < 10; k++) {
      const str = Array.from({ length: Math.floor(r() * 7) }, () => pick(['a', 'b', '*', 'é', '\\\\', '\\"'])).join('');
      const pat = Array.from({ length: Math.floor(r() * 6) }, () => pick(['a', 'b', '*', '*', '\\*', 'é', '\\\\'])).join('');
      pols.push(`permit(principal, action, resource) when { "${str}" like "${pat}" };`);
    }
    out.push({ name: `like#${c}`, policies: pols.join('\n'), entities: [], request: requests[1] });
  }
  return out;
}
