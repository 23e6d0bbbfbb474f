// Starts a stage of any kind from its context: shared by the embedded runner and the one-stage process.
import { runIngestStage, type IngestStageConfig } from './ingest/run_ingest.ts';
import type { RunningStage, StageContext } from './stage.ts';
import { runStudentStage, type StudentStageConfig } from './student/index.ts';
import { runTeacherStage, type TeacherStageConfig } from './teacher/run_teacher.ts';

export function startStage(ctx: StageContext): RunningStage {
  const stage = ctx.stage;
  switch (stage.kind) {
    case 'ingest':
      return runIngestStage(ctx as StageContext<IngestStageConfig>);
    case 'teacher':
      return runTeacherStage(ctx as StageContext<TeacherStageConfig>);
    case 'student':
      return runStudentStage(ctx as StageContext<StudentStageConfig>);
  }
}
