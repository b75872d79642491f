-- The image certificate ids a user trusts for an instance (compute API
-- 2.63 `trusted_image_certificates`), as Nova keeps them in
-- `instance_extra.trusted_certs`: a JSON list of ids, NULL when none.
ALTER TABLE instance_extra ADD COLUMN trusted_certs TEXT;
