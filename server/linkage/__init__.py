"""Record linkage: one survivor, one record, whatever institution she reaches first.

``identity.py`` reads what identifies a woman from a Patient (RUNs, documents, names,
birth date, comunas, phones); ``compare.py`` applies the linkage rules of
``fixtures/institutions/README.md`` section 5.2 to two identities (a deterministic match
on a valid RUN or the same document; a probable one on names plus two agreeing facts,
with nothing contradicting); ``match.py`` finds and ranks the candidates a caller may
see (``Patient/$match``, ``server/api/match.py``); ``candidates.py`` records a new
survivor's probable matches as candidate links (``Linkage``) for a caseworker;
``merge.py`` merges two records of one woman and undoes a merge (``Patient/$merge``,
``Patient/$unmerge``).
"""
