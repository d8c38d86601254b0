-- Role lottery hardening.
-- 1. A draw's seed is sealed at rest (storage/lottery.py, seal_seed): the seed column then holds
--    the nonce and AES-256-GCM ciphertext under a key derived from the operator's pickle key, so
--    a copy of the database taken during a draw's window cannot be used to aim a contribution.
--    Rows written before this step hold their seed in the clear (seed_sealed = 0); the feature
--    seals those of open draws at start, and revealed draws have published their seed anyway.
ALTER TABLE lottery_draw ADD COLUMN seed_sealed INTEGER NOT NULL DEFAULT 0
    CHECK (seed_sealed IN (0, 1));
