/** Seeds of the shipped evaluation (`npm run eval` default); never used for training or tuning. */
export const EVAL_SEEDS = [9001, 9002, 9003] as const;
/** Every seed from here on is reserved for evaluation (dataset export refuses them). */
export const FIRST_EVAL_SEED = 9000;
