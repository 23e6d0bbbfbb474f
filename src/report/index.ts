// Public API of the run report: the RunReport type, writeReport, and the plain-text summary table.
export { writeReport, REPORT_HTML, METRICS_JSON } from './write_report.ts';
export { formatSummaryTable } from './summary_table.ts';
export { formatStudentInit } from './format.ts';
export { renderReportHtml, REPORT_SECTIONS } from './render_html.ts';
export { buildMetricsJson, formatMetricsJson, METRICS_JSON_VERSION, type MetricsJson } from './metrics_json.ts';
export { lineChart, type ChartSeries, type LineChartOptions, type ReferenceLine } from './svg_chart.ts';
export type {
  CocoStats,
  CorpusSplitSummary,
  CorpusSummary,
  EvalPoint,
  FilterStats,
  GridImage,
  ImageGrid,
  KeptCount,
  LossPoint,
  MachineInfo,
  ModelReport,
  ReportBox,
  RunReport,
  StudentInitReport,
  StudentReport,
  TrainingHistory,
} from './types.ts';
