"""The published indicators (issue 10): FHIR Measures of the guide evaluated over the
whole store, with survivors who declined statistics left out and small cells protected.

- ``definitions``: the Measures (``profiles/ig/Measure-*.json``) as the code reads them;
- ``period``: whole-month measurement periods, days in Chile's time;
- ``records``: each record kept as only what is counted of it;
- ``facts``: what the indicators count, read from the store as the platform, without the
  survivors who declined statistical use;
- ``populations``: who each Measure's populations hold, with their strata;
- ``ledger``: every published count and the relations a reader knows among them;
- ``suppression``: which counts to hide (primary and complementary suppression);
- ``evaluation``: one period's indicators, evaluated and protected together;
- ``measures``: an evaluation as a MeasureReport (``$evaluate-measure``);
- ``instruments``: how well each risk instrument's levels predicted a new incident;
- ``strata``, ``report``, ``charts``, ``cli``: ``amparo report``'s CSV files and charts.
"""
