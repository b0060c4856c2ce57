// The entity world the hand-written and generated differential cases share:
// users in groups, documents in folders, an action hierarchy, attributes of
// every value type (extension values through __extn), entity tags and a
// namespaced type.
export const uid = (type, id) => ({ type, id });
const ext = (fn, arg) => ({ __extn: { fn, arg } });
const ent = (type, id) => ({ __entity: { type, id } });

export const entities = [
  { uid: uid('User', 'alice'), parents: [uid('Group', 'eng'), uid('Group', 'all')],
    attrs: { name: 'alice', age: 30, tags: ['a', 'b'], manager: ent('User', 'bob'), active: true,
             addr: ext('ip', '10.1.2.3'), score: ext('decimal', '1.5'),
             joined: ext('datetime', '2024-01-02T03:04:05Z'), ttl: ext('duration', '1h30m'),
             profile: { dept: 'eng', level: 3, nested: { x: 1, 'a b': 'sp' } },
             groups: [ent('Group', 'eng'), ent('Group', 'all')], empty: [], big: 9007199254740991,
             'if': 1, '': 'emptykey' },
    tags: { env: 'prod', n: 1, list: [1, 2] } },
  { uid: uid('User', 'bob'), parents: [uid('Group', 'mgrs')],
    attrs: { name: 'bob', age: 45, tags: [], active: false, profile: { dept: 'ops', level: 5 } } },
  { uid: uid('User', 'carol'), parents: [uid('Group', 'eng')], attrs: {} },
  { uid: uid('Group', 'eng'), parents: [uid('Group', 'all')], attrs: { name: 'eng' } },
  { uid: uid('Group', 'mgrs'), parents: [uid('Group', 'all')], attrs: { name: 'mgrs' } },
  { uid: uid('Group', 'all'), parents: [], attrs: {} },
  { uid: uid('Doc', 'd1'), parents: [uid('Folder', 'f1')],
    attrs: { owner: ent('User', 'alice'), public: false, size: 10, labels: ['x', 'y'],
             readers: [ent('User', 'bob'), ent('Group', 'eng')] }, tags: { class: 'secret' } },
  { uid: uid('Doc', 'd2'), parents: [uid('Folder', 'root')],
    attrs: { owner: ent('User', 'bob'), public: true, size: -3, labels: [] } },
  { uid: uid('Folder', 'f1'), parents: [uid('Folder', 'root')], attrs: { name: 'f1' } },
  { uid: uid('Folder', 'root'), parents: [], attrs: {} },
  { uid: uid('Action', 'view'), parents: [uid('Action', 'read')], attrs: {} },
  { uid: uid('Action', 'edit'), parents: [uid('Action', 'write')], attrs: {} },
  { uid: uid('Action', 'read'), parents: [], attrs: {} },
  { uid: uid('Action', 'write'), parents: [], attrs: {} },
  { uid: uid('NS::Sub::Thing', 't'), parents: [uid('Group', 'all')], attrs: { k: 'v' } },
];

export const context = {
  n: 5, flag: true, s: 'hello', set: [1, 2, 3], rec: { a: 1, b: { c: 'd' } },
  ip: ext('ip', '192.168.1.10'), ip6: ext('ip', '2001:db8::1'), amount: ext('decimal', '12.3400'),
  when: ext('datetime', '2024-06-01'), who: ent('User', 'carol'), strs: ['x', 'y'], 'a b': 1,
};

export const requests = [
  { principal: uid('User', 'alice'), action: uid('Action', 'view'), resource: uid('Doc', 'd1'), context },
  { principal: uid('User', 'bob'), action: uid('Action', 'edit'), resource: uid('Doc', 'd2'), context: { n: 0 } },
  { principal: uid('User', 'ghost'), action: uid('Action', 'view'), resource: uid('Doc', 'nope'), context: {} },
  { principal: uid('NS::Sub::Thing', 't'), action: uid('Action', 'read'), resource: uid('Folder', 'f1'), context },
];
