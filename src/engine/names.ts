import { randomInt } from 'node:crypto';

/**
 * Generated container names: `<adjective>_<surname>`, the surname of someone who shaped computing,
 * ships or the sea (berth's own lists). A number is appended when a name is taken.
 */
const ADJECTIVES = [
  'agile', 'amber', 'ardent', 'azure', 'bold', 'brave', 'breezy', 'bright', 'brisk', 'calm', 'candid', 'careful',
  'cheerful', 'civic', 'clever', 'coastal', 'cosmic', 'crisp', 'curious', 'daring', 'deft', 'diligent', 'eager',
  'earnest', 'easy', 'elated', 'fearless', 'fleet', 'fond', 'frank', 'gallant', 'gentle', 'glad', 'golden', 'grand',
  'hardy', 'hearty', 'honest', 'humble', 'jolly', 'keen', 'kind', 'lively', 'loyal', 'lucid', 'lucky', 'merry',
  'mellow', 'mindful', 'modest', 'nautical', 'nimble', 'noble', 'patient', 'placid', 'plucky', 'polite', 'proud',
  'quick', 'quiet', 'radiant', 'rapid', 'ready', 'resolute', 'robust', 'rosy', 'salty', 'sandy', 'serene', 'sharp',
  'silent', 'sincere', 'snug', 'sober', 'solid', 'spry', 'stable', 'steady', 'stellar', 'stoic', 'sturdy', 'sunny',
  'swift', 'tidal', 'tidy', 'tranquil', 'trusty', 'upbeat', 'valiant', 'vivid', 'wary', 'windy', 'wise', 'witty',
  'zealous', 'zesty',
];

const SURNAMES = [
  'allen', 'babbage', 'backus', 'baran', 'bartik', 'bell', 'berners', 'bose', 'boole', 'cerf', 'chandra', 'clarke',
  'codd', 'conway', 'cook', 'corbato', 'cray', 'dahl', 'dijkstra', 'drake', 'easley', 'elion', 'engelbart',
  'euler', 'fermi', 'feynman', 'floyd', 'franklin', 'gauss', 'goldberg', 'goodall', 'hamilton', 'hamming',
  'hardy', 'hawking', 'hertz', 'hopper', 'hypatia', 'johnson', 'kahan', 'kay', 'kepler', 'kernighan', 'knuth',
  'lamarr', 'lamport', 'liskov', 'lovelace', 'magellan', 'maury', 'mccarthy', 'meitner', 'mercator', 'minsky',
  'mirzakhani', 'moore', 'nansen', 'napier', 'neumann', 'noether', 'nygaard', 'pascal', 'perlman', 'piccard',
  'pike', 'plimsoll', 'raman', 'ritchie', 'rivest', 'sammet', 'shamir', 'shannon', 'shackleton', 'sinoussi',
  'somerville', 'stallman', 'sutherland', 'tasman', 'tesla', 'thompson', 'torvalds', 'turing', 'vancouver',
  'varahamihira', 'villani', 'wegener', 'wilkes', 'wing', 'wirth', 'wozniak', 'yalow', 'yonath', 'zheng', 'zuse',
];

export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
}

/** A generated name for which `taken` is false. */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 10; i++) {
    const n = randomName();
    if (!taken(n)) return n;
  }
  for (;;) {
    const n = `${randomName()}${randomInt(10, 100)}`;
    if (!taken(n)) return n;
  }
}
