-- A request an OpenDSR controller sent to the authority: the controller is named as its requester on
-- the case, and opendsr_requests maps the controller's own id of it (subject_request_id) to the
-- request, with where its status callbacks go and the last status they were told.
ALTER TABLE cases ADD COLUMN requester text;

CREATE TABLE opendsr_requests (
    controller_id      text NOT NULL,
    subject_request_id uuid NOT NULL,
    request_id         uuid NOT NULL UNIQUE,
    received_at        timestamptz NOT NULL,
    deadline           timestamptz NOT NULL,
    callback_urls      jsonb NOT NULL DEFAULT '[]',
    status_sent        text NOT NULL DEFAULT '',
    PRIMARY KEY (controller_id, subject_request_id)
);
