import fc from 'fast-check';

// Property runs are reproducible: a fixed seed unless FC_SEED is set, and FC_NUM_RUNS to run more.
// On failure fast-check reports the seed, the path and the shrunk counterexample.
const seed = process.env.FC_SEED === undefined ? 20261125 : Number(process.env.FC_SEED);
const numRuns = process.env.FC_NUM_RUNS === undefined ? 100 : Number(process.env.FC_NUM_RUNS);
fc.configureGlobal({ seed, numRuns });
