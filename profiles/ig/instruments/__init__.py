"""Risk instruments as Questionnaires (RiskInstrument), with their declared scoring, and
sample responses (RiskAnswers). Data only: ``profiles.instruments`` loads it, and
``README.md`` here explains how scoring is declared."""
