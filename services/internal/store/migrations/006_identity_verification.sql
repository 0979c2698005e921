-- Requests the office registers, received by post or at a service point, arrive with the subject's
-- identity unverified (Art 12(6)): who registered the request, and the clerk's decision on the
-- identity — who, when, and for a refusal the reasons told to the subject (Art 12(2), 12(4)). How the
-- identity was verified is kept in identity_method, as for any request.
ALTER TABLE cases ADD COLUMN registered_by text;
ALTER TABLE cases ADD COLUMN identity_decided_by text;
ALTER TABLE cases ADD COLUMN identity_decided_at timestamptz;
ALTER TABLE cases ADD COLUMN identity_refusal text;
