// The same module under its bare name (an import map or a bundler alias "herenow").
import { members, type Members } from 'herenow';

const show = (m: Members): number => (m.members ? m.members.length : 0);
members({ room: 'support', getToken: async () => 'eyJ...' }, (m) => console.log(show(m)));
